/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * The ioctl interface of /dev/xenib_back, used by xenib-backd.
 *
 * The backend executes a frontend's verbs through a real uverbs file,
 * which needs a user address space and stable credentials: those of the
 * process that calls XENIB_BACK_SERVE. The call does not return until the
 * process gets a signal; while it runs, the kernel serves every connected
 * frontend from it.
 *
 * Reading /dev/xenib_back returns the backend's counters as text lines
 * "name value".
 */
#ifndef XENIB_BACK_UAPI_H
#define XENIB_BACK_UAPI_H

#include <linux/ioctl.h>
#include <linux/types.h>

struct xenib_back_serve {
	/* The uverbs character device of the bound device, NUL-terminated. */
	char uverbs_path[64];
};

#define XENIB_BACK_SERVE _IOW('X', 1, struct xenib_back_serve)

#endif
