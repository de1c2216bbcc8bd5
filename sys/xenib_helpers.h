/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C helpers for what bindgen cannot bind or Rust cannot express on 6.12:
 * static inline functions, macros, module parameters, file and VMA
 * operation tables. Each module defines the ones it uses in its own
 * helpers.c; this header is also bindgen's view of them.
 */
#ifndef XENIB_HELPERS_H
#define XENIB_HELPERS_H

#include <linux/types.h>
#include "xenib_loopback.h"

struct ib_device;
struct ib_umem;
struct ib_udata;
struct uverbs_attr_bundle;
struct file;
struct page;
struct vm_area_struct;

/* ---- ib_back ---- */
unsigned int xenib_back_quota(unsigned int kind);
unsigned int xenib_back_max_mr_mib(void);
unsigned int xenib_back_max_total_mr_mib(void);
void xenib_back_loop_rdma_ip(char *buf, size_t len);
int xenib_parse_ip_gid(const char *s, int len, u8 *gid);
const char *xenib_back_param_dev(void);
int xenib_back_misc_register(void);
struct ib_qp;
struct ib_qp *xenib_back_qp_get(struct ib_device *dev, u32 qpn);
void xenib_back_qp_put(struct ib_qp *qp);
int xenib_back_qp_kick(struct ib_qp *qp);
int xenib_back_client_register(void);
void xenib_back_client_unregister(void);
void xenib_back_misc_deregister(void);
/* The uverbs file of the real device, driven from the service process. */
struct file *xenib_back_file_open(const char *path);
void xenib_back_file_close(struct file *file);
ssize_t xenib_back_file_write(struct file *file, unsigned long ubuf, size_t len);
ssize_t xenib_back_file_read(struct file *file, unsigned long ubuf, size_t len);
struct file *xenib_back_event_file_get(int fd);
void xenib_back_event_file_put(struct file *file);
struct file *xenib_back_cm_file_open(const char *path);
void xenib_back_file_get(struct file *file);
int xenib_back_install_file(struct file *file);
struct xenib_evwatch;
struct xenib_evwatch *xenib_back_evwatch_start(struct file *file, void *data);
void xenib_back_evwatch_stop(struct xenib_evwatch *w);
/* The service process's address space. */
unsigned long xenib_back_vm_mmap(struct file *file, unsigned long len, u64 offset);
int xenib_back_vm_munmap(unsigned long addr, unsigned long len);
long xenib_back_pin_pages(unsigned long addr, unsigned long nr, struct page **pages);
unsigned long xenib_back_vm_mmap_test_mmio(unsigned long len);
int xenib_back_io_frames(unsigned long addr, unsigned long nr, u64 *frames, unsigned long room,
			 u16 *cache);
/* Xen: device memory for guests (domctl). */
int xenib_back_iomem_permit(u16 domid, u64 frame, bool allow);
int xenib_back_memory_mapping(u16 domid, u64 gfn, u64 frame, bool add);
int xenib_back_domain_alive(u16 domid, u8 *handle);
void xenib_back_unpin_pages(struct page **pages, unsigned long nr);
/* A context server's windows onto the guest's address range. */
struct xenib_window;
struct xenib_window *xenib_back_window_new(struct file *service);
void xenib_back_window_free(struct xenib_window *w);
int xenib_back_window_take(struct xenib_window *w, u64 *out, unsigned int max);
bool xenib_back_in_guest_range(unsigned long addr, unsigned long len);
bool xenib_back_window_covers(unsigned long addr, unsigned long len);
unsigned long xenib_back_map_pages(struct file *service, struct page **pages,
				   unsigned long nr, unsigned long addr, bool readonly);
int xenib_back_unmap_pages(unsigned long addr, unsigned long nr, struct xenib_window *w);
unsigned long xenib_back_map_grants(struct file *service, u16 domid, const u32 *refs, u32 nr,
				    unsigned long addr, bool readonly, u64 *grant_ns);
int xenib_back_xen_register(void);
void xenib_back_xen_unregister(void);
int xenib_copy_to_user(unsigned long uaddr, const void *src, unsigned long len);
int xenib_copy_from_user(void *dst, unsigned long uaddr, unsigned long len);
u64 xenib_jiffies(void);
void xenib_msleep(unsigned int ms);
bool xenib_need_resched(void);
unsigned long xenib_msecs_to_jiffies(unsigned int ms);
int xenib_close_fd(unsigned int fd);
bool xenib_ratelimit(void);
long xenib_ptr_err(const void *ptr);
int xenib_find_gid(struct ib_device *dev, u32 port, const u8 *gid, u8 type);
int xenib_gid_at(struct ib_device *dev, u32 port, u32 index, u8 *gid, u8 *type);
void xenib_get_page(struct page *page);
void xenib_put_page(struct page *page);
void *xenib_page_address(struct page *page);
struct page *xenib_alloc_zeroed_page(void);
void *xenib_alloc_pages(unsigned int order);
void xenib_free_pages(void *addr, unsigned int order);
int xenib_get_driver_id(struct ib_device *dev);
u32 xenib_get_uverbs_abi_ver(struct ib_device *dev);

/* ---- Xen (both; sys/xen_glue.c) ---- */
struct xenbus_device;
struct xenib_evtchn;
struct xenib_gmap;
bool xenib_xen_domain(void);
bool xenib_xen_initial_domain(void);
struct xenib_evtchn *xenib_evtchn_bind(struct xenbus_device *dev, u32 remote_port,
				       void (*fn)(void *data), void *data,
				       const char *name, u32 *local_port);
void xenib_evtchn_notify(struct xenib_evtchn *ch);
void xenib_evtchn_unbind(struct xenib_evtchn *ch);
void xenib_evtchn_free(struct xenib_evtchn *ch);
int xenib_ring_setup(struct xenbus_device *dev, void **vaddr, u32 nr_pages, u32 *grefs);
void xenib_ring_teardown(void **vaddr, u32 nr_pages, u32 *grefs);
void *xenib_ring_map(struct xenbus_device *dev, u32 *grefs, u32 nr);
void xenib_ring_unmap(struct xenbus_device *dev, void *vaddr);
int xenib_xs_write_u32(u32 t, const char *dir, const char *node, u32 val);
int xenib_xs_read_u32(const char *dir, const char *node, u32 *val);
int xenib_xs_read_str(const char *dir, const char *node, char *buf, size_t len);
int xenib_xs_start(u32 *t);
int xenib_xs_end(u32 t, bool abort);
const char *xenib_xs_nodename(struct xenbus_device *dev);
const char *xenib_xs_otherend(struct xenbus_device *dev);
u32 xenib_xs_otherend_id(struct xenbus_device *dev);
void xenib_xs_set_drvdata(struct xenbus_device *dev, void *data);
void *xenib_xs_get_drvdata(struct xenbus_device *dev);
int xenib_xs_state(struct xenbus_device *dev);
int xenib_grant_page(u16 domid, struct page *page, bool readonly);
void xenib_end_grant(u32 ref, struct page *page);
int xenib_grant_copy_in(u16 domid, u32 ref, void *buf);
struct xenib_gmap *xenib_gmap_new(u16 domid, const u32 *refs, u32 count, bool readonly);
int xenib_gmap_mmap(struct xenib_gmap *m, struct vm_area_struct *vma);
void xenib_get_device(struct xenbus_device *dev);
void xenib_put_device(struct xenbus_device *dev);

/* Both modules (xen_glue.c): ballooned pages mapping grants, and lost. */
void xenib_xen_page_counts(long *in_use, long *leaked);

/* ---- ib_front ---- */
int xenib_front_vma_track(struct vm_area_struct *vma, void *cookie);
struct ib_device *xenib_front_get_own_device(const char *name);
unsigned int xenib_front_release_timeout_ms(void);
bool xenib_front_test_mute_notify(void);
struct page *xenib_front_pin_user_page(unsigned long addr, bool write);
void xenib_front_unpin_user_page(struct page *page);
#include <rdma/ib_verbs.h>

/* The front's ib_device: the core allocates it with our private part. */
/* The guest's /dev/infiniband/rdma_cm (ib_front/cm.rs). */
struct xenib_cm_file;
int xenib_front_cm_register(void);
void xenib_front_cm_unregister(void);
void xenib_front_cm_wake(struct xenib_cm_file *cf);
int xenib_front_cm_wait(struct xenib_cm_file *cf, void *cm);
void *xenib_front_cm_of_fd(int fd);
u32 xenib_front_device_index(struct ib_device *dev);

/* Most ports a front device has (xen_ring/src/av.rs: MAX_PORTS). */
#define XENIB_MAX_PORTS 16

struct xenib_front_dev {
	struct ib_device ibdev;
	/* enum rdma_link_layer of port N at [N - 1], for N <= phys_port_cnt */
	u8 link_layer[XENIB_MAX_PORTS];
	const void *front;	/* the Rust `Front` */
};
enum rdma_link_layer xenib_front_get_link_layer(struct ib_device *dev, u32 port);
void *xenib_err_ptr(long err);
struct ib_device *xenib_front_alloc_device(size_t size);
int xenib_front_loop_connect(struct xenib_loop_conn *conn);
int xenib_front_umem_pages(struct ib_umem *umem, struct page **pages,
			   unsigned long nr);
unsigned long xenib_front_umem_page_count(struct ib_umem *umem);
int xenib_front_insert_pages(struct vm_area_struct *vma, struct page **pages,
			     unsigned long nr);
int xenib_front_map_grants(struct vm_area_struct *vma, u16 domid, const u32 *refs, u32 nr);
int xenib_front_map_io(struct vm_area_struct *vma, const u64 *frames, u32 nr, bool wc);
bool xenib_front_auto_translated(void);
int xenib_front_io_pages_get(struct page **pages, unsigned int n, u64 *gfns);
void xenib_front_io_pages_put(struct page **pages, unsigned int n);
void xenib_front_io_pages_leak(unsigned int n);
int xenib_front_map_io_pages(struct vm_area_struct *vma, struct page **pages, u32 nr, bool wc);
int xenib_front_xen_register(void);
void xenib_front_xen_unregister(void);
int xenib_udata_copy_in(void *dst, struct ib_udata *udata, size_t len);
int xenib_udata_copy_out(struct ib_udata *udata, const void *src, size_t len);
const char *xenib_front_param_netdev(void);
void xenib_front_set_removal_device(struct ib_device *dev);
void xenib_front_schedule_removal(void);
void xenib_front_cancel_removal(void);
void xenib_front_device_event(u32 type, u32 port);
struct net_device *xenib_front_netdev_get(const char *name);
struct net_device *xenib_front_gid_netdev_create(const u8 *mac);
void xenib_front_gid_netdev_destroy(struct net_device *dev);
void xenib_front_netdev_put(struct net_device *dev);
struct ib_ucontext *xenib_udata_context(struct ib_udata *udata);
struct ib_udata *xenib_bundle_udata(struct uverbs_attr_bundle *attrs);
size_t xenib_udata_inlen(struct ib_udata *udata);
size_t xenib_udata_outlen(struct ib_udata *udata);
struct ib_umem *xenib_front_umem_get(struct ib_device *dev, u64 start, u64 length, int access);
struct xenib_range_watch;
unsigned int xenib_front_reg_cache(void);
struct xenib_range_watch *xenib_front_range_watch(u64 start, u64 length);
bool xenib_front_range_watch_ours(struct xenib_range_watch *w);
bool xenib_front_range_watch_stale(struct xenib_range_watch *w);
void xenib_front_range_watch_end(struct xenib_range_watch *w);

#endif
