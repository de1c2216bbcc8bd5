/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * The ioctl interface of /dev/xenib_back, used by xenib-backd.
 *
 * XENIB_BACK_SERVE: the calling thread becomes the dispatcher; it takes
 * every frontend's requests off the rings and hands each guest context's
 * to that context's server. It does not return until the thread gets a
 * signal.
 *
 * XENIB_BACK_POOL_WAIT: returns 0 when the daemon should fork another
 * context server; ESHUTDOWN once no dispatcher runs.
 *
 * XENIB_BACK_SERVE_CONTEXT: made by a freshly forked, single-threaded
 * child. The kernel empties its address space and drops its capabilities,
 * then serves one guest context through a uverbs file of the real device
 * opened in it (the driver resolves the guest's pointers in that address
 * space). The process never returns to user space: when the context ends
 * it is killed.
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
#define XENIB_BACK_POOL_WAIT _IO('X', 2)
#define XENIB_BACK_SERVE_CONTEXT _IO('X', 3)

#endif
