/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The loopback transport: ib_front and ib_back in one kernel, exchanging
 * exactly what they would exchange across domains.
 *
 * The front allocates the command and event rings as ordinary pages and
 * fills the front half of this structure; ib_back's xenib_loop_connect()
 * fills the back half. After that, the two sides share only
 *   - the ring pages (as a Xen frontend's granted ring),
 *   - notifications (as event channels: no data, handled asynchronously),
 *   - page "grants": a side publishes a page under a reference number in
 *     its own grant table, and the other side maps it by number through
 *     the granting side's lookup function, which refuses unknown or
 *     revoked references (as the hypervisor would).
 * No verb is ever a function call across the boundary.
 */
#ifndef XENIB_LOOPBACK_H
#define XENIB_LOOPBACK_H

#include <linux/types.h>

struct page;

struct xenib_loop_conn {
	/* Filled by the front before connecting. */
	void *cmd_ring;
	void *evt_ring;
	void *doorbells;	/* one page: the doorbell page (xen_ring doorbell.rs) */
	u32 ring_order;
	void (*notify_front)(struct xenib_loop_conn *conn);
	struct page *(*front_map_grant)(struct xenib_loop_conn *conn, u32 ref);
	void *front_priv;
	/* Filled by ib_back in xenib_loop_connect(). */
	void (*notify_back)(struct xenib_loop_conn *conn);
	/* A second "event channel", for the doorbell page only. */
	void (*notify_doorbells)(struct xenib_loop_conn *conn);
	/* Ends the connection; the backend has released everything of it. */
	void (*disconnect)(struct xenib_loop_conn *conn);
	struct page *(*back_map_grant)(struct xenib_loop_conn *conn, u32 ref);
	void *back_priv;
};

/*
 * Exported by ib_back: the rendezvous. Everything after it goes through the
 * function pointers above; the frontend holds no reference on ib_back, so
 * ib_back can be unloaded under a connected frontend (it then removes the
 * frontend's device, see Documentation/design.rst), and the frontend keeps
 * every call into ib_back inside a guard that disconnect waits for.
 */
int xenib_loop_connect(struct xenib_loop_conn *conn);

#endif
