// SPDX-License-Identifier: GPL-2.0
/*
 * ib_back's C helpers: module parameters (6.12's Rust has none) and
 * wrappers for static inline functions and macros.
 */
#include <linux/module.h>
#include "xenib_helpers.h"

static char *dev = "rxe0";
module_param(dev, charp, 0444);
MODULE_PARM_DESC(dev, "name of the real RDMA device to serve (default rxe0)");

const char *xenib_back_param_dev(void)
{
	return dev;
}
