// SPDX-License-Identifier: GPL-2.0
/*
 * ib_front's C helpers: module parameters, the loopback transport's
 * rendezvous with ib_back (resolved at run time, so ib_front does not
 * depend on ib_back when it runs over Xen), and wrappers for static
 * inline functions and macros of the RDMA core and mm.
 */
#include <linux/anon_inodes.h>
#include <linux/etherdevice.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/rtnetlink.h>
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/workqueue.h>
#include <rdma/ib_umem.h>
#include <rdma/ib_verbs.h>
#include <rdma/uverbs_ioctl.h>
#include <rdma/rdma_user_cm.h>
#include <rdma/ib.h>
/* struct ib_client_nl_info, which ucma.c fills as we do. */
#include "core_priv.h"
#include <rdma/ib_cache.h>
#include <linux/miscdevice.h>
#include <linux/poll.h>
#include <linux/file.h>
#include "xenib_helpers.h"
#include "xenib_callbacks.h"
#include "xen_glue.c"
#include <xen/xen-ops.h>

static char *netdev = "eth0";
module_param(netdev, charp, 0444);
MODULE_PARM_DESC(netdev, "guest network device whose addresses form xib0's RoCE GIDs (default eth0)");

/*
 * Writing to /sys/module/ib_front/parameters/hostile_test runs the
 * hostile-frontend self-test against ib_back (test support: it opens its
 * own connections, never touches xib0's); reading it gives the result.
 */
static int hostile_set(const char *val, const struct kernel_param *kp)
{
	/* "device": over xib0's own connection (the Xen transport in a domU). */
	if (sysfs_streq(val, "device"))
		return xenib_front_hostile_run_device();
	/* "ports": port numbers and link-layer fields, over xib0's connection. */
	if (sysfs_streq(val, "ports"))
		return xenib_front_hostile_run_ports();
	/* "overrun": breaks xib0's own connection (the backend cuts it off). */
	if (sysfs_streq(val, "overrun"))
		return xenib_front_hostile_run_overrun();
	return xenib_front_hostile_run();
}

static int hostile_get(char *buf, const struct kernel_param *kp)
{
	return xenib_front_hostile_result(buf, PAGE_SIZE);
}

static const struct kernel_param_ops hostile_ops = {
	.set = hostile_set,
	.get = hostile_get,
};
module_param_cb(hostile_test, &hostile_ops, NULL, 0600);
MODULE_PARM_DESC(hostile_test, "write: run the hostile-frontend self-test (\"device\": over xib0's own connection; \"ports\": its port cases); read: its result");

/* The frontend's counters (phase_us.* lines, ib_front/mr.rs), read-only. */
static int counters_get(char *buf, const struct kernel_param *kp)
{
	return xenib_front_counters(buf, PAGE_SIZE);
}

static const struct kernel_param_ops counters_ops = {
	.get = counters_get,
};
module_param_cb(counters, &counters_ops, NULL, 0444);
MODULE_PARM_DESC(counters, "read: the frontend's counters (time per phase of memory registration)");

static unsigned int release_timeout_ms = 30000;
module_param(release_timeout_ms, uint, 0644);
MODULE_PARM_DESC(release_timeout_ms,
		 "how long a destroy, dealloc or close waits for the backend before leaving the object to it (ms, default 30000)");

/*
 * Test support: while set, requests are put on the ring without notifying
 * the backend, which then looks wedged (it still takes them when notified
 * for a later request, or while it polls).
 */
static bool test_mute_notify;
module_param(test_mute_notify, bool, 0644);
MODULE_PARM_DESC(test_mute_notify, "test only: do not notify the backend of new requests");

/*
 * The registration cache (ib_front/regcache.rs): how many deregistered
 * ranges the device keeps pinned, granted and mapped by the backend for
 * a repeated registration; 0 disables it.
 */
static unsigned int reg_cache = 64;
module_param(reg_cache, uint, 0644);
MODULE_PARM_DESC(reg_cache,
		 "deregistered memory ranges kept for a repeated registration (per device, default 64, 0: none)");

unsigned int xenib_front_reg_cache(void)
{
	return READ_ONCE(reg_cache);
}

/*
 * A watch on a range of the calling process (the registration cache): it
 * turns stale at the first invalidation of any part of it (munmap,
 * mremap, mprotect, MAP_FIXED over it, exit, ...). The callback only
 * records that: it may not sleep.
 */
struct xenib_range_watch {
	struct mmu_interval_notifier mni;
	bool stale;
};

static bool xenib_range_watch_invalidate(struct mmu_interval_notifier *mni,
					 const struct mmu_notifier_range *range,
					 unsigned long cur_seq)
{
	struct xenib_range_watch *w = container_of(mni, struct xenib_range_watch, mni);

	mmu_interval_set_seq(mni, cur_seq);
	WRITE_ONCE(w->stale, true);
	return true;
}

static const struct mmu_interval_notifier_ops xenib_range_watch_ops = {
	.invalidate = xenib_range_watch_invalidate,
};

struct xenib_range_watch *xenib_front_range_watch(u64 start, u64 length)
{
	struct xenib_range_watch *w;
	int err;

	if (!current->mm)
		return ERR_PTR(-EINVAL);
	w = kzalloc(sizeof(*w), GFP_KERNEL);
	if (!w)
		return ERR_PTR(-ENOMEM);
	err = mmu_interval_notifier_insert(&w->mni, current->mm, start, length,
					   &xenib_range_watch_ops);
	if (err) {
		kfree(w);
		return ERR_PTR(err);
	}
	return w;
}

/* Whether the watch was made in the calling process. */
bool xenib_front_range_watch_ours(struct xenib_range_watch *w)
{
	return w->mni.mm == current->mm;
}

bool xenib_front_range_watch_stale(struct xenib_range_watch *w)
{
	return READ_ONCE(w->stale);
}

/* Ends a watch; may sleep (waits for a running invalidation). */
void xenib_front_range_watch_end(struct xenib_range_watch *w)
{
	mmu_interval_notifier_remove(&w->mni);
	kfree(w);
}

unsigned int xenib_front_release_timeout_ms(void)
{
	return READ_ONCE(release_timeout_ms);
}

bool xenib_front_test_mute_notify(void)
{
	return READ_ONCE(test_mute_notify);
}

/* Test support: our device `name`, referenced (ib_device_put); or NULL. */
struct ib_device *xenib_front_get_own_device(const char *name)
{
	struct ib_device *dev = ib_device_get_by_name(name, RDMA_DRIVER_UNKNOWN);

	if (dev && dev->ops.owner != THIS_MODULE) {
		ib_device_put(dev);
		return NULL;
	}
	return dev;
}

const char *xenib_front_param_netdev(void)
{
	return netdev;
}

struct net_device *xenib_front_netdev_get(const char *name)
{
	return dev_get_by_name(&init_net, name);
}

void xenib_front_netdev_put(struct net_device *dev)
{
	dev_put(dev);
}

/*
 * Unregistering xib0 when the backend's device goes away, from a work
 * item. One device per module, so one static work item.
 */
static struct ib_device *removal_dev;

static void removal_fn(struct work_struct *work)
{
	ib_unregister_device(READ_ONCE(removal_dev));
	xenib_front_removed();
}
static DECLARE_WORK(removal_work, removal_fn);

void xenib_front_set_removal_device(struct ib_device *dev)
{
	WRITE_ONCE(removal_dev, dev);
}

void xenib_front_schedule_removal(void)
{
	if (READ_ONCE(removal_dev))
		schedule_work(&removal_work);
}

void xenib_front_cancel_removal(void)
{
	cancel_work_sync(&removal_work);
	WRITE_ONCE(removal_dev, NULL);
}

/*
 * Over Xen, xib0's GID table must be the backend device's: the guest's
 * verbs name GIDs by index and the backend executes them on its own
 * table. The RDMA core builds a RoCE port's table from a netdev, and its
 * default GIDs (fe80::/64 from the MAC, RoCE v1 and v2, indexes 0 and 1)
 * depend on the MAC only. So xib0 gets a netdev of its own, xibgidN, with
 * the backend port's MAC, up, carrying no traffic (transmit drops).
 */
static netdev_tx_t xenib_gid_xmit(struct sk_buff *skb, struct net_device *dev)
{
	dev_kfree_skb(skb);
	return NETDEV_TX_OK;
}

static const struct net_device_ops xenib_gid_netdev_ops = {
	.ndo_start_xmit = xenib_gid_xmit,
};

static void xenib_gid_setup(struct net_device *dev)
{
	ether_setup(dev);
	dev->netdev_ops = &xenib_gid_netdev_ops;
	dev->flags |= IFF_NOARP;
	dev->flags &= ~IFF_MULTICAST;
	dev->priv_flags |= IFF_NO_QUEUE;
	dev->needs_free_netdev = true;
}

struct net_device *xenib_front_gid_netdev_create(const u8 *mac)
{
	struct net_device *dev = alloc_netdev(0, "xibgid%d", NET_NAME_ENUM, xenib_gid_setup);
	int err;

	if (!dev)
		return ERR_PTR(-ENOMEM);
	eth_hw_addr_set(dev, mac);
	rtnl_lock();
	err = register_netdevice(dev);
	if (err) {
		rtnl_unlock();
		free_netdev(dev);
		return ERR_PTR(err);
	}
	err = dev_open(dev, NULL);
	if (err)
		unregister_netdevice(dev);	/* frees it */
	rtnl_unlock();
	return err ? ERR_PTR(err) : dev;
}

void xenib_front_gid_netdev_destroy(struct net_device *dev)
{
	unregister_netdev(dev);
}

/* A port or device event for our device (the backend's device had it). */
void xenib_front_device_event(u32 type, u32 port)
{
	struct ib_event ev = { .event = type };
	struct ib_device *dev = READ_ONCE(removal_dev);

	if (!dev)
		return;
	/* A port event names one of our ports, or it is nothing we know. */
	if (type != IB_EVENT_DEVICE_FATAL && (port < 1 || port > dev->phys_port_cnt)) {
		pr_warn_ratelimited("ib_front: backend event %u for port %u: no such port\n", type, port);
		return;
	}
	ev.device = dev;
	ev.element.port_num = port;
	ib_dispatch_event(&ev);
}

/* A C function because it returns a C enum (kCFI-safe). */
enum rdma_link_layer xenib_front_get_link_layer(struct ib_device *dev, u32 port)
{
	struct xenib_front_dev *xdev = container_of(dev, struct xenib_front_dev, ibdev);

	/* The core asks only for its ports; anything else is no port of ours. */
	if (port < 1 || port > dev->phys_port_cnt || port > XENIB_MAX_PORTS)
		return IB_LINK_LAYER_UNSPECIFIED;
	return xdev->link_layer[port - 1];
}

void *xenib_err_ptr(long err)
{
	return ERR_PTR(err);
}

struct ib_device *xenib_front_alloc_device(size_t size)
{
	return _ib_alloc_device(size);
}

/*
 * The loopback transport connects through ib_back's exported
 * xenib_loop_connect(), looked up at run time so that ib_front does not
 * need ib_back when it runs over Xen. No reference on ib_back is kept: the
 * connection's own function pointers carry the rest (see
 * sys/xenib_loopback.h).
 */
int xenib_front_loop_connect(struct xenib_loop_conn *conn)
{
	typeof(xenib_loop_connect) *connect = symbol_get(xenib_loop_connect);
	int ret;

	if (!connect)
		return -ENODEV;
	ret = connect(conn);
	symbol_put(xenib_loop_connect);
	return ret;
}

unsigned long xenib_front_umem_page_count(struct ib_umem *umem)
{
	return ib_umem_num_pages(umem);
}

/* The pages behind a pinned user memory region, in address order. */
int xenib_front_umem_pages(struct ib_umem *umem, struct page **pages,
			   unsigned long nr)
{
	struct sg_page_iter it;
	unsigned long i = 0;

	for_each_sgtable_page(&umem->sgt_append.sgt, &it, 0) {
		if (i == nr)
			return -EINVAL;
		pages[i++] = sg_page_iter_page(&it);
	}
	return i == nr ? 0 : -EINVAL;
}

/* Map the backend's queue pages into the guest process (the VMA of an
 * mmap() on the uverbs file). */
/*
 * A mapping of the backend's pages (loopback transport) is one VMA: it
 * cannot be split or moved.
 */
static int xenib_front_pages_may_split(struct vm_area_struct *vma, unsigned long addr)
{
	return -EINVAL;
}

static int xenib_front_pages_mremap(struct vm_area_struct *vma)
{
	return -EINVAL;
}

static const struct vm_operations_struct xenib_front_pages_vm_ops = {
	.may_split = xenib_front_pages_may_split,
	.mremap = xenib_front_pages_mremap,
};

/*
 * The file behind a VMA of the backend's pages. Its release is the end of
 * the VMA (which can be neither split nor copied), after the pages or
 * grants are unmapped; being ours, it keeps ib_front loaded while a
 * process maps the VMA, whose operations live here. It holds the uverbs
 * file the VMA had, as that VMA would have: the context is not closed
 * before its mappings are gone.
 */
struct xenib_front_map {
	void *cookie;
	struct file *uverbs;
};

static int xenib_front_map_release(struct inode *inode, struct file *file)
{
	struct xenib_front_map *map = file->private_data;

	/* A file opened anew through /proc/PID/map_files has none. */
	if (!map)
		return 0;
	xenib_front_vma_closed(map->cookie);
	fput(map->uverbs);
	kfree(map);
	return 0;
}

static const struct file_operations xenib_front_map_fops = {
	.owner = THIS_MODULE,
	.release = xenib_front_map_release,
};

/*
 * Makes a file of ours the file of `vma` (being set up by our mmap
 * handler, mmap lock held), before anything is mapped into it: when the
 * VMA goes, xenib_front_vma_closed(cookie) is called. On error the cookie
 * is not taken.
 */
int xenib_front_vma_track(struct vm_area_struct *vma, void *cookie)
{
	struct xenib_front_map *map = kmalloc(sizeof(*map), GFP_KERNEL);
	struct file *file;

	if (!map)
		return -ENOMEM;
	map->cookie = cookie;
	map->uverbs = vma->vm_file;
	file = anon_inode_getfile("[xenib-queue]", &xenib_front_map_fops, map, O_RDWR);
	if (IS_ERR(file)) {
		kfree(map);
		return PTR_ERR(file);
	}
	/* The VMA's reference to the uverbs file becomes ours. */
	get_file(map->uverbs);
	vma_set_file(vma, file);
	fput(file);
	return 0;
}

int xenib_front_insert_pages(struct vm_area_struct *vma, struct page **pages,
			     unsigned long nr)
{
	if (vma_pages(vma) != nr)
		return -EINVAL;
	vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP | VM_DONTCOPY);
	vma->vm_ops = &xenib_front_pages_vm_ops;
	return vm_insert_pages(vma, vma->vm_start, pages, &nr) ?: (nr ? -EFAULT : 0);
}

struct ib_ucontext *xenib_udata_context(struct ib_udata *udata)
{
	return udata ? container_of(udata, struct uverbs_attr_bundle, driver_udata)->context : NULL;
}

struct ib_udata *xenib_bundle_udata(struct uverbs_attr_bundle *attrs)
{
	return &attrs->driver_udata;
}

size_t xenib_udata_inlen(struct ib_udata *udata)
{
	return udata ? udata->inlen : 0;
}

size_t xenib_udata_outlen(struct ib_udata *udata)
{
	return udata ? udata->outlen : 0;
}

/*
 * A page of the calling process that a verb's driver touched in the
 * backend (the caller is the process making the verb): pinned for as long
 * as the backend may map it, writable only if the driver wrote to it.
 */
struct page *xenib_front_pin_user_page(unsigned long addr, bool write)
{
	struct page *page;
	int ret;

	if (!current->mm || (current->flags & PF_KTHREAD))
		return ERR_PTR(-EFAULT);
	ret = pin_user_pages_fast(addr, 1, FOLL_LONGTERM | (write ? FOLL_WRITE : 0), &page);
	if (ret != 1)
		return ERR_PTR(ret < 0 ? ret : -EFAULT);
	return page;
}

void xenib_front_unpin_user_page(struct page *page)
{
	unpin_user_page(page);
}

struct ib_umem *xenib_front_umem_get(struct ib_device *dev, u64 start, u64 length, int access)
{
	return ib_umem_get(dev, start, length, access);
}

int xenib_udata_copy_in(void *dst, struct ib_udata *udata, size_t len)
{
	return ib_copy_from_udata(dst, udata, len);
}

int xenib_udata_copy_out(struct ib_udata *udata, const void *src, size_t len)
{
	/* ib_copy_to_udata() copies all of len: bound it by what the provider
	 * made room for. */
	return ib_copy_to_udata(udata, (void *)src, min(len, udata->outlen));
}

/* Map the backend's granted queue pages into the guest process. */
int xenib_front_map_grants(struct vm_area_struct *vma, u16 domid, const u32 *refs, u32 nr)
{
	struct xenib_gmap *m;

	if (vma_pages(vma) != nr)
		return -EINVAL;
	m = xenib_gmap_new(domid, refs, nr, false);
	if (IS_ERR(m))
		return PTR_ERR(m);
	return xenib_gmap_mmap(m, vma);
}

/*
 * Map a device's doorbell pages (I/O frames the backend had Xen give this
 * domain access to) into the guest process, with the caching the real
 * driver chose. A PV domain writes the PTEs through the hypervisor, as
 * owned by DOMID_IO (an auto-translated one maps its own frames, once the
 * backend has put the device's there: xenib_front_map_io_pages).
 */
int xenib_front_map_io(struct vm_area_struct *vma, const u64 *frames, u32 nr, bool wc)
{
	xen_pfn_t *mfns;
	int *errs, ret;
	u32 i;

	if (vma_pages(vma) != nr)
		return -EINVAL;
	if (!xen_pv_domain())
		return -EOPNOTSUPP;
	mfns = kcalloc(nr, sizeof(*mfns), GFP_KERNEL);
	errs = kcalloc(nr, sizeof(*errs), GFP_KERNEL);
	if (!mfns || !errs) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < nr; i++)
		mfns[i] = frames[i];
	vm_flags_set(vma, VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP | VM_DONTCOPY);
	vma->vm_page_prot = wc ? pgprot_writecombine(vma->vm_page_prot) :
				 pgprot_noncached(vma->vm_page_prot);
	vma->vm_ops = &xenib_front_pages_vm_ops;
	ret = xen_remap_domain_mfn_array(vma, vma->vm_start, mfns, nr, errs,
					 vma->vm_page_prot, DOMID_IO);
	if (ret >= 0 && ret != nr) {
		for (i = 0; i < nr && !errs[i]; i++)
			;
		ret = i < nr ? errs[i] : -EFAULT;
	} else if (ret == nr) {
		ret = 0;
	}
out:
	kfree(mfns);
	kfree(errs);
	return ret;
}

bool xenib_front_auto_translated(void)
{
	return xen_feature(XENFEAT_auto_translated_physmap);
}

/*
 * An auto-translated domain maps device memory through its physical map:
 * ballooned pages lend their frames, at which the backend has Xen put the
 * device's frames (MapIo). They may be reused only once the backend has
 * taken those out again.
 */
int xenib_front_io_pages_get(struct page **pages, unsigned int n, u64 *gfns)
{
	unsigned int i;
	int ret = xenib_pages_get(pages, n);

	if (ret)
		return ret;
	for (i = 0; i < n; i++)
		gfns[i] = xen_page_to_gfn(pages[i]);
	return 0;
}

void xenib_front_io_pages_put(struct page **pages, unsigned int n)
{
	xenib_pages_put(pages, n);
}

/* The backend may still map device memory at them: never reuse. */
void xenib_front_io_pages_leak(unsigned int n)
{
	atomic_long_sub(n, &xenib_pages_in_use);
	atomic_long_add(n, &xenib_pages_leaked);
}

/* In an auto-translated domain: the pages' frames, which now hold the
 * device's, into the process. */
int xenib_front_map_io_pages(struct vm_area_struct *vma, struct page **pages, u32 nr, bool wc)
{
	u32 i;
	int ret;

	if (vma_pages(vma) != nr)
		return -EINVAL;
	vm_flags_set(vma, VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP | VM_DONTCOPY);
	vma->vm_page_prot = wc ? pgprot_writecombine(vma->vm_page_prot) :
				 pgprot_noncached(vma->vm_page_prot);
	vma->vm_ops = &xenib_front_pages_vm_ops;
	for (i = 0; i < nr; i++) {
		ret = remap_pfn_range(vma, vma->vm_start + i * PAGE_SIZE, page_to_pfn(pages[i]),
				      PAGE_SIZE, vma->vm_page_prot);
		if (ret)
			return ret;
	}
	return 0;
}

/* ---- the Xen frontend driver (xen.rs) ---- */

static const struct xenbus_device_id xenib_front_ids[] = {
	{ "vrdma" },
	{ "" }
};

static int xenib_front_probe(struct xenbus_device *dev, const struct xenbus_device_id *id)
{
	return xenib_front_xen_probed(dev);
}

static void xenib_front_backend_changed(struct xenbus_device *dev, enum xenbus_state state)
{
	xenib_front_xen_backend_changed(dev, state);
}

static void xenib_front_remove(struct xenbus_device *dev)
{
	xenib_front_xen_removed(dev);
}

static struct xenbus_driver xenib_front_driver = {
	.ids = xenib_front_ids,
	.probe = xenib_front_probe,
	.otherend_changed = xenib_front_backend_changed,
	.remove = xenib_front_remove,
	.not_essential = true,
};

int xenib_front_xen_register(void)
{
	xenib_page_cache_setup();
	return xenbus_register_frontend(&xenib_front_driver);
}

void xenib_front_xen_unregister(void)
{
	xenbus_unregister_driver(&xenib_front_driver);
	xenib_page_cache_drain();
}

/*
 * The guest's rdma_cm character device, as rdma_ucm provides it
 * (drivers/infiniband/core/ucma.c): a misc device with an abi_version
 * attribute, and an ib_client named "rdma_cm" through which librdmacm
 * finds it over netlink. Its commands are forwarded (ib_front/cm.rs).
 */
struct xenib_cm_file {
	wait_queue_head_t wq;
	void *cm;
};

static const struct file_operations xenib_cm_fops;

static int xenib_cm_open(struct inode *inode, struct file *filp)
{
	struct xenib_cm_file *cf = kzalloc(sizeof(*cf), GFP_KERNEL);
	void *cm;

	if (!cf)
		return -ENOMEM;
	init_waitqueue_head(&cf->wq);
	cm = xenib_front_cm_open(cf);
	if (IS_ERR(cm)) {
		kfree(cf);
		return PTR_ERR(cm);
	}
	cf->cm = cm;
	filp->private_data = cf;
	return stream_open(inode, filp);
}

static ssize_t xenib_cm_write(struct file *filp, const char __user *buf, size_t len,
			      loff_t *pos)
{
	struct xenib_cm_file *cf = filp->private_data;

	/* As ucma_write(): commands carry pointers, so no splice tricks. */
	if (!ib_safe_file_access(filp))
		return -EACCES;
	return xenib_front_cm_write(cf->cm, buf, len, filp->f_flags & O_NONBLOCK);
}

static __poll_t xenib_cm_poll(struct file *filp, struct poll_table_struct *wait)
{
	struct xenib_cm_file *cf = filp->private_data;

	poll_wait(filp, &cf->wq, wait);
	return xenib_front_cm_readable(cf->cm) ? EPOLLIN | EPOLLRDNORM : 0;
}

static int xenib_cm_close(struct inode *inode, struct file *filp)
{
	struct xenib_cm_file *cf = filp->private_data;

	xenib_front_cm_release(cf->cm);
	kfree(cf);
	return 0;
}

static const struct file_operations xenib_cm_fops = {
	.owner = THIS_MODULE,
	.open = xenib_cm_open,
	.release = xenib_cm_close,
	.write = xenib_cm_write,
	.poll = xenib_cm_poll,
};

static struct miscdevice xenib_cm_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "rdma_cm",
	.nodename = "infiniband/rdma_cm",
	.mode = 0666,
	.fops = &xenib_cm_fops,
};

static ssize_t abi_version_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d\n", RDMA_USER_CM_ABI_VERSION);
}
static DEVICE_ATTR_RO(abi_version);

static int xenib_cm_nl_info(struct ib_client_nl_info *res)
{
	res->abi = RDMA_USER_CM_ABI_VERSION;
	res->cdev = xenib_cm_misc.this_device;
	return 0;
}

static struct ib_client xenib_cm_client = {
	.name = "rdma_cm",
	.get_global_nl_info = xenib_cm_nl_info,
};

static bool xenib_cm_registered;

int xenib_front_cm_register(void)
{
	int ret = misc_register(&xenib_cm_misc);

	if (ret)
		return ret;
	ret = device_create_file(xenib_cm_misc.this_device, &dev_attr_abi_version);
	if (ret)
		goto out_misc;
	ret = ib_register_client(&xenib_cm_client);
	if (ret)
		goto out_file;
	xenib_cm_registered = true;
	return 0;
out_file:
	device_remove_file(xenib_cm_misc.this_device, &dev_attr_abi_version);
out_misc:
	misc_deregister(&xenib_cm_misc);
	return ret;
}

void xenib_front_cm_unregister(void)
{
	if (!xenib_cm_registered)
		return;
	ib_unregister_client(&xenib_cm_client);
	device_remove_file(xenib_cm_misc.this_device, &dev_attr_abi_version);
	misc_deregister(&xenib_cm_misc);
	xenib_cm_registered = false;
}

void xenib_front_cm_wake(struct xenib_cm_file *cf)
{
	wake_up_interruptible(&cf->wq);
}

/* Sleeps until the file has an event or is dead; -ERESTARTSYS on a signal. */
int xenib_front_cm_wait(struct xenib_cm_file *cf, void *cm)
{
	return wait_event_interruptible(cf->wq, xenib_front_cm_readable(cm));
}

/*
 * The cm file behind descriptor @fd of the calling process, if it is one
 * of ours (MIGRATE_ID names its source file so), with a reference of
 * its own (taken while the descriptor holds the file); NULL otherwise.
 */
void *xenib_front_cm_of_fd(int fd)
{
	struct fd f = fdget(fd);
	void *cm = NULL;

	if (!fd_file(f))
		return NULL;
	if (fd_file(f)->f_op == &xenib_cm_fops)
		cm = xenib_front_cm_get(((struct xenib_cm_file *)fd_file(f)->private_data)->cm);
	fdput(f);
	return cm;
}

u32 xenib_front_device_index(struct ib_device *dev)
{
	return dev->index;
}

#include "common_helpers.c"
