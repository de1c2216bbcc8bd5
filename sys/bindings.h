/* SPDX-License-Identifier: GPL-2.0 */
/* Input for bindgen: the RDMA core and Xen headers the modules use. */
#include <linux/miscdevice.h>
#include <linux/mman.h>
#include <rdma/ib_verbs.h>
#include <rdma/ib_umem.h>
#include <rdma/ib_cache.h>
#include <rdma/uverbs_ioctl.h>
#include <uapi/rdma/ib_user_verbs.h>
#include <uapi/rdma/rdma_user_ioctl_cmds.h>
#include <xen/xen.h>
#include <xen/xenbus.h>
#include <xen/grant_table.h>
#include <xen/events.h>
#include <xen/page.h>
#include "xenib_helpers.h"
