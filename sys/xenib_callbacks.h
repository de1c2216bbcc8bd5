/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Functions implemented in Rust and called from the modules' C helpers
 * (file and VMA operation tables). Not seen by bindgen: the Rust side
 * defines them with #[no_mangle].
 */
#ifndef XENIB_CALLBACKS_H
#define XENIB_CALLBACKS_H

#include <linux/types.h>

struct file;

/* ib_back: XENIB_BACK_SERVE, in the service process. */
long xenib_back_serve(struct file *service, const char *uverbs_path);
/* ib_back: XENIB_BACK_POOL_WAIT and XENIB_BACK_SERVE_CONTEXT (server.rs). */
long xenib_back_pool_wait(void);
long xenib_back_serve_context(struct file *service);
/* ib_back: an event file that xenib_back_evwatch_start() watches has events. */
void xenib_back_event_ready(void *data);
/* ib_back: the RDMA core is removing a device (our ib_client). */
struct ib_device;
void xenib_back_device_removed(struct ib_device *ibdev);
/* ib_back: format the counters into buf, return the length. */
size_t xenib_back_stats(char *buf, size_t len);

/* ib_front: our device was removed after the backend's: disconnect. */
struct xenib_cm_file;
void xenib_front_removed(void);
/* rdma_cm files (ib_front/cm.rs); `cm` is what xenib_front_cm_open returned. */
void *xenib_front_cm_open(struct xenib_cm_file *cf);
ssize_t xenib_front_cm_write(void *cm, const char __user *buf, size_t len, bool nonblock);
bool xenib_front_cm_readable(void *cm);
void *xenib_front_cm_get(void *cm);
void xenib_front_cm_release(void *cm);
/* ib_front: a VMA of the backend's pages is gone (mmap.rs). */
void xenib_front_vma_closed(void *cookie);
/* ib_front: the hostile-frontend self-test (hostile.rs). */
int xenib_front_hostile_run(void);
int xenib_front_hostile_run_device(void);
int xenib_front_hostile_run_ports(void);
int xenib_front_hostile_run_overrun(void);
int xenib_front_hostile_result(char *buf, size_t len);
int xenib_front_counters(char *buf, size_t len);

/* Xen bus drivers (ib_front: xen.rs; ib_back: xen.rs). */
struct xenbus_device;
int xenib_front_xen_probed(struct xenbus_device *dev);
void xenib_front_xen_backend_changed(struct xenbus_device *dev, int state);
void xenib_front_xen_removed(struct xenbus_device *dev);
int xenib_back_xen_probed(struct xenbus_device *dev);
void xenib_back_xen_frontend_changed(struct xenbus_device *dev, int state);
void xenib_back_xen_removed(struct xenbus_device *dev);

#endif
