// SPDX-License-Identifier: GPL-2.0
/*
 * ib_back's C helpers: the module parameter, /dev/xenib_back, and the
 * small pieces of mm and VFS plumbing that 6.12's Rust cannot reach
 * (static inline functions and operation tables). No policy lives here.
 */
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/pfn_t.h>
#include <linux/poll.h>
#include <linux/workqueue.h>
#include <linux/module.h>
#include <linux/cred.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/timekeeping.h>
#include <linux/uaccess.h>
#include <linux/inet.h>
#include <net/ipv6.h>
#include <rdma/ib_verbs.h>
#include <rdma/restrack.h>
#include "xenib_helpers.h"
#include "xenib_callbacks.h"
#include "xen_glue.c"
#include <asm/xen/hypercall.h>
#include "uapi.h"

static char *dev = "rxe0";
module_param(dev, charp, 0444);
MODULE_PARM_DESC(dev, "name of the real RDMA device to serve (default rxe0)");

/*
 * Per-guest quotas (quota.rs): objects one guest may have the backend
 * hold at once. The order is that of quota.rs's Kind.
 */
static unsigned int quota[9] = { 256, 4096, 8192, 8192, 2048, 16384, 16384, 4096, 16384 };
#define XENIB_QUOTA_PARAM(i, name, what)				\
	module_param_named(name, quota[i], uint, 0644);			\
	MODULE_PARM_DESC(name, "per guest: " what)
XENIB_QUOTA_PARAM(0, max_contexts, "contexts (guest processes using the device), default 256");
XENIB_QUOTA_PARAM(1, max_pds, "protection domains, default 4096");
XENIB_QUOTA_PARAM(2, max_cqs, "completion queues, default 8192");
XENIB_QUOTA_PARAM(3, max_qps, "queue pairs, default 8192");
XENIB_QUOTA_PARAM(4, max_srqs, "shared receive queues, default 2048");
XENIB_QUOTA_PARAM(5, max_ahs, "address handles, default 16384");
XENIB_QUOTA_PARAM(6, max_mrs, "memory regions, default 16384");
XENIB_QUOTA_PARAM(7, max_cm_ids, "rdma_cm ids, default 4096");
XENIB_QUOTA_PARAM(8, max_mws, "memory windows, default 16384");

static unsigned int max_mr_mib = 16384;
module_param(max_mr_mib, uint, 0644);
MODULE_PARM_DESC(max_mr_mib, "per guest: registered memory in MiB, default 16384");

/*
 * Every guest page an MR holds is a grant mapping in this domain, and Xen
 * bounds those by the domain's maptrack table: gnttab_max_maptrack_frames
 * (default 1024) times 512 entries, 2 GiB of 4 KiB pages. The default
 * leaves a quarter of it to other backends and to queue mappings.
 */
static unsigned int max_total_mr_mib = 1536;
module_param(max_total_mr_mib, uint, 0644);
MODULE_PARM_DESC(max_total_mr_mib, "all guests together: registered memory in MiB, default 1536 "
		 "(Xen's maptrack table bounds it; raise gnttab_max_maptrack_frames with it)");

/*
 * The loopback frontend's RDMA addresses (policy.rs); a Xen guest's come
 * from its backend's xenstore node "rdma-ip" (scripts/xenib-attach).
 */
static char loop_rdma_ip[128];
module_param_string(loop_rdma_ip, loop_rdma_ip, sizeof(loop_rdma_ip), 0644);
MODULE_PARM_DESC(loop_rdma_ip, "RDMA addresses of the loopback frontend (IPv4/IPv6, space-separated; "
		 "none: only the port's default GID)");

/*
 * Test only (Documentation/admin-guide.rst, "Doorbell pages"): a file whose
 * shared mapping stands in for a hardware device's doorbell page, served
 * at XENIB_MMIO_TEST_OFFSET of every context; the Xen tests name an
 * emulated PCI BAR's sysfs resource file. Empty: no such region.
 */
static char test_mmio_file[128];
module_param_string(test_mmio_file, test_mmio_file, sizeof(test_mmio_file), 0644);
MODULE_PARM_DESC(test_mmio_file, "test only: file mapped as an MMIO region at mmap offset 2^44 "
		 "(e.g. a PCI BAR's sysfs resource file); empty: none");

void xenib_back_loop_rdma_ip(char *buf, size_t len)
{
	kernel_param_lock(THIS_MODULE);
	strscpy(buf, loop_rdma_ip, len);
	kernel_param_unlock(THIS_MODULE);
}

/*
 * Parses the @len bytes at @s as an IPv4 or IPv6 address into the GID
 * that RoCE gives it (IPv4-mapped for IPv4, as rdma_ip2gid() does).
 */
int xenib_parse_ip_gid(const char *s, int len, u8 *gid)
{
	struct in6_addr *a = (struct in6_addr *)gid;
	__be32 v4;

	if (in4_pton(s, len, (u8 *)&v4, -1, NULL) == 1) {
		ipv6_addr_set_v4mapped(v4, a);
		return 0;
	}
	return in6_pton(s, len, gid, -1, NULL) == 1 ? 0 : -EINVAL;
}

unsigned int xenib_back_max_mr_mib(void)
{
	return READ_ONCE(max_mr_mib);
}

unsigned int xenib_back_max_total_mr_mib(void)
{
	return READ_ONCE(max_total_mr_mib);
}

unsigned int xenib_back_quota(unsigned int kind)
{
	return kind < ARRAY_SIZE(quota) ? READ_ONCE(quota[kind]) : 0;
}

const char *xenib_back_param_dev(void)
{
	return dev;
}

/* ---- /dev/xenib_back ---- */

/*
 * Turns the calling process into an empty shell for one guest context:
 * nothing of the daemon that forked it stays mapped (a guest's pointer
 * can only reach what the context itself maps here), and it keeps no
 * capability (the driver checks current's, e.g. CAP_NET_RAW for raw
 * packet QPs and privileged Q_Keys). It can never return to user space.
 */
static int xenib_back_enter_server(void)
{
	struct mm_struct *mm = current->mm;
	struct cred *cred;
	int ret;

	/* No other thread may run in (or share) the address space we empty. */
	if (!mm || atomic_read(&mm->mm_users) != 1 || !thread_group_empty(current))
		return -EINVAL;
	cred = prepare_creds();
	if (!cred)
		return -ENOMEM;
	ret = vm_munmap(0, TASK_SIZE);
	if (ret) {
		abort_creds(cred);
		return ret;
	}
	cap_clear(cred->cap_inheritable);
	cap_clear(cred->cap_permitted);
	cap_clear(cred->cap_effective);
	cap_clear(cred->cap_bset);
	cap_clear(cred->cap_ambient);
	commit_creds(cred);
	task_set_no_new_privs(current);
	return 0;
}

static long xenib_back_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct xenib_back_serve req;
	long ret;

	switch (cmd) {
	case XENIB_BACK_SERVE:
		if (copy_from_user(&req, (void __user *)arg, sizeof(req)))
			return -EFAULT;
		req.uverbs_path[sizeof(req.uverbs_path) - 1] = 0;
		return xenib_back_serve(file, req.uverbs_path);
	case XENIB_BACK_POOL_WAIT:
		return xenib_back_pool_wait();
	case XENIB_BACK_SERVE_CONTEXT:
		ret = xenib_back_enter_server();
		if (!ret)
			ret = xenib_back_serve_context(file);
		/* Its address space is empty (or half so): nothing to return to. */
		send_sig(SIGKILL, current, 1);
		return ret;
	default:
		return -ENOTTY;
	}
}

static ssize_t xenib_back_read(struct file *file, char __user *ubuf, size_t len,
			       loff_t *pos)
{
	char *buf = kzalloc(PAGE_SIZE, GFP_KERNEL);
	ssize_t ret;

	if (!buf)
		return -ENOMEM;
	ret = simple_read_from_buffer(ubuf, len, pos, buf,
				      xenib_back_stats(buf, PAGE_SIZE));
	kfree(buf);
	return ret;
}

/*
 * A context server's address space (server.rs) mirrors the guest
 * process's: guest pages appear at their guest addresses. Only the zone
 * [XENIB_PRIVATE_START, XENIB_PRIVATE_END), which processes practically
 * never use (their mappings sit near 0, 85 TiB and 128 TiB), holds the
 * server's own mappings (the command scratch area, the driver's queues,
 * an MR that overlaps another). Everything else is covered by *window*
 * mappings: a driver that touches an address there (copy_to_user of a
 * udata pointer, ib_umem_get of a buffer address) finds no page, the
 * access fails with EFAULT as for an unmapped address, and the page is
 * recorded, so that the backend can fetch it from the guest process, map
 * it at that address and run the verb again.
 */
#define XENIB_WINDOW_START	0x10000UL		/* mmap_min_addr */
#define XENIB_PRIVATE_START	0x100000000000UL	/* 16 TiB */
#define XENIB_PRIVATE_END	0x200000000000UL	/* 32 TiB */
/* File offset of window mappings (at their address above this). */
#define XENIB_WINDOW_PGOFF	(1UL << 20)
#define XENIB_MAX_FAULTS	8

struct xenib_window {
	struct file *file;	/* /dev/xenib_back, to map windows again */
	spinlock_t lock;
	unsigned int nr;
	bool overflow;
	u64 pages[XENIB_MAX_FAULTS];	/* page address | 1 if written */
};

static vm_fault_t xenib_window_fault(struct vm_fault *vmf)
{
	struct xenib_window *w = vmf->vma->vm_private_data;
	u64 page = vmf->address & PAGE_MASK;
	u64 write = (vmf->flags & FAULT_FLAG_WRITE) ? 1 : 0;
	unsigned int i;

	spin_lock(&w->lock);
	for (i = 0; i < w->nr && (w->pages[i] & PAGE_MASK) != page; i++)
		;
	if (i < w->nr)
		w->pages[i] |= write;
	else if (w->nr < XENIB_MAX_FAULTS)
		w->pages[w->nr++] = page | write;
	else
		w->overflow = true;
	spin_unlock(&w->lock);
	/* A kernel access gets EFAULT from its exception fixup, GUP -EFAULT. */
	return VM_FAULT_SIGBUS;
}

static const struct vm_operations_struct xenib_window_vm_ops = {
	.fault = xenib_window_fault,
};

/* Whether [addr, addr + len) lies where guest pages may be mapped. */
bool xenib_back_in_guest_range(unsigned long addr, unsigned long len)
{
	unsigned long end = addr + len;

	return end > addr && addr >= XENIB_WINDOW_START && end <= TASK_SIZE &&
	       (end <= XENIB_PRIVATE_START || addr >= XENIB_PRIVATE_END);
}

/*
 * Guest pages mapped into a context server, so that the real driver's
 * reg_user_mr can pin them as if they were the server's own memory.
 *
 * They are installed as special PTEs in a VM_MIXEDMAP mapping and handed
 * to GUP through find_special_page, as drivers/xen/gntdev.c does for
 * grant mappings: the pages belong to another address space (a guest
 * process, or a foreign domain), so this mapping must not take part in
 * their rmap or refcount accounting. The page array outlives the mapping
 * (the caller unmaps before freeing it).
 */
static DEFINE_MUTEX(xenib_map_lock);
static struct page **xenib_map_pages_pending;
static struct xenib_gmap *xenib_map_gmap_pending;
/* Time xenib_gmap_mmap took for the pending mapping (the grant maps). */
static u64 xenib_map_gmap_ns;
static struct xenib_window *xenib_map_window_pending;
static unsigned long xenib_map_nr_pending;

/*
 * GUP (the driver pinning an MR) must see the pages; unmapping must not,
 * or it would take them out of an rmap they were never added to. So the
 * pages are hidden once xenib_back_unmap_pages() starts tearing the
 * mapping down, and from an exiting process.
 */
static struct page *xenib_region_find_special_page(struct vm_area_struct *vma,
						   unsigned long addr)
{
	struct page **pages = vma->vm_private_data;

	if (!pages || (current->flags & PF_EXITING))
		return NULL;
	return pages[(addr - vma->vm_start) >> PAGE_SHIFT];
}

static int xenib_region_may_split(struct vm_area_struct *vma, unsigned long addr)
{
	return -EINVAL;
}

static const struct vm_operations_struct xenib_region_vm_ops = {
	.find_special_page = xenib_region_find_special_page,
	.may_split = xenib_region_may_split,
};

/* What xenib_region_set_pte() maps: the pages of a region being set up. */
struct xenib_region_ptes {
	struct mm_struct *mm;
	struct page **pages;
	unsigned long start;
	pgprot_t prot;
};

/*
 * One PTE of a region: the page as a special PTE, as vmf_insert_mixed()
 * makes it (x86 has pte_special), but for the whole range in one walk of
 * the page tables (apply_to_page_range) instead of one walk and one PTE
 * lock per page.
 */
static int xenib_region_set_pte(pte_t *pte, unsigned long addr, void *data)
{
	struct xenib_region_ptes *r = data;
	struct page *page = r->pages[(addr - r->start) >> PAGE_SHIFT];

	if (!pte_none(ptep_get(pte)))
		return -EBUSY;
	set_pte_at(r->mm, addr, pte, pte_mkspecial(pfn_pte(page_to_pfn(page), r->prot)));
	return 0;
}

static int xenib_back_mmap(struct file *file, struct vm_area_struct *vma)
{
	unsigned long nr = vma_pages(vma);
	struct xenib_region_ptes ptes;
	int ret;

	/* Only the helpers below map this file, from the kernel. */
	if (!mutex_is_locked(&xenib_map_lock))
		return -EINVAL;
	if (xenib_map_window_pending && vma->vm_pgoff >= XENIB_WINDOW_PGOFF) {
		vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP | VM_DONTCOPY | VM_NORESERVE);
		vma->vm_ops = &xenib_window_vm_ops;
		vma->vm_private_data = xenib_map_window_pending;
		xenib_map_window_pending = NULL;
		return 0;
	}
	if (xenib_map_gmap_pending && !vma->vm_pgoff) {
		struct xenib_gmap *m = xenib_map_gmap_pending;

		u64 t0 = ktime_get_ns();
		int ret;

		xenib_map_gmap_pending = NULL;
		ret = xenib_gmap_mmap(m, vma);
		xenib_map_gmap_ns = ktime_get_ns() - t0;
		return ret;
	}
	if (!xenib_map_pages_pending || nr != xenib_map_nr_pending || vma->vm_pgoff)
		return -EINVAL;
	vm_flags_set(vma, VM_MIXEDMAP | VM_DONTEXPAND | VM_DONTDUMP | VM_DONTCOPY);
	vma->vm_ops = &xenib_region_vm_ops;
	vma->vm_private_data = xenib_map_pages_pending;
	ptes = (struct xenib_region_ptes){
		.mm = vma->vm_mm,
		.pages = xenib_map_pages_pending,
		.start = vma->vm_start,
		.prot = vma->vm_page_prot,
	};
	ret = apply_to_page_range(vma->vm_mm, vma->vm_start, nr << PAGE_SHIFT,
				  xenib_region_set_pte, &ptes);
	if (ret)
		/* The core unmaps what was set: as any unmapping, unseen. */
		vma->vm_private_data = NULL;
	return ret;
}

static const struct file_operations xenib_back_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = xenib_back_ioctl,
	.read = xenib_back_read,
	.mmap = xenib_back_mmap,
	.llseek = noop_llseek,
};

static struct miscdevice xenib_back_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "xenib_back",
	.fops = &xenib_back_fops,
	.mode = 0600,
};

int xenib_back_misc_register(void)
{
	return misc_register(&xenib_back_misc);
}

void xenib_back_misc_deregister(void)
{
	misc_deregister(&xenib_back_misc);
}

/* Covers [start, end) with a window mapping of `w`. */
static unsigned long xenib_window_map(struct xenib_window *w, unsigned long start,
				      unsigned long end)
{
	unsigned long addr;

	mutex_lock(&xenib_map_lock);
	xenib_map_window_pending = w;
	addr = vm_mmap(w->file, start, end - start, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_FIXED, (XENIB_WINDOW_PGOFF << PAGE_SHIFT) + start);
	xenib_map_window_pending = NULL;
	mutex_unlock(&xenib_map_lock);
	return addr;
}

/* Sets up the windows of a context server's (empty) address space. */
struct xenib_window *xenib_back_window_new(struct file *service)
{
	struct xenib_window *w = kzalloc(sizeof(*w), GFP_KERNEL);
	unsigned long r;

	if (!w)
		return ERR_PTR(-ENOMEM);
	w->file = service;
	spin_lock_init(&w->lock);
	r = xenib_window_map(w, XENIB_WINDOW_START, XENIB_PRIVATE_START);
	if (!IS_ERR_VALUE(r))
		r = xenib_window_map(w, XENIB_PRIVATE_END, TASK_SIZE);
	if (IS_ERR_VALUE(r)) {
		vm_munmap(0, TASK_SIZE);
		kfree(w);
		return ERR_PTR((long)r);
	}
	return w;
}

/* Unmaps everything of the server, so nothing can fault into `w` again. */
void xenib_back_window_free(struct xenib_window *w)
{
	vm_munmap(0, TASK_SIZE);
	kfree(w);
}

/*
 * The pages touched through the windows since the last call (at most
 * `max`); -E2BIG if there were more than can be recorded.
 */
int xenib_back_window_take(struct xenib_window *w, u64 *out, unsigned int max)
{
	int ret;

	spin_lock(&w->lock);
	ret = w->overflow ? -E2BIG : min(w->nr, max);
	if (ret > 0)
		memcpy(out, w->pages, ret * sizeof(*out));
	w->nr = 0;
	w->overflow = false;
	spin_unlock(&w->lock);
	return ret;
}

/* Whether [addr, addr + len) is guest range that only windows cover. */
bool xenib_back_window_covers(unsigned long addr, unsigned long len)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	bool ok = true;

	if (!xenib_back_in_guest_range(addr, len))
		return false;
	mmap_read_lock(mm);
	{
		VMA_ITERATOR(vmi, mm, addr);

		for_each_vma_range(vmi, vma, addr + len)
			if (vma->vm_ops != &xenib_window_vm_ops)
				ok = false;
	}
	mmap_read_unlock(mm);
	return ok;
}

/*
 * Maps pages (loopback) or grants (Xen) at `addr` (0: anywhere, which is
 * the private zone); a fixed `addr` must be window-covered guest range.
 */
unsigned long xenib_back_map_pages(struct file *service, struct page **pages,
				   unsigned long nr, unsigned long addr, bool readonly)
{
	unsigned long ret;

	if (addr && !xenib_back_window_covers(addr, nr << PAGE_SHIFT))
		return -EEXIST;
	mutex_lock(&xenib_map_lock);
	xenib_map_pages_pending = pages;
	xenib_map_nr_pending = nr;
	ret = vm_mmap(service, addr, nr << PAGE_SHIFT,
		      readonly ? PROT_READ : PROT_READ | PROT_WRITE,
		      MAP_SHARED | (addr ? MAP_FIXED : 0), 0);
	xenib_map_pages_pending = NULL;
	mutex_unlock(&xenib_map_lock);
	return ret;
}

/*
 * Guest pages granted by a Xen frontend, mapped into the server the same
 * way (sys/xen_glue.c maps the grants as gntdev would).
 */
unsigned long xenib_back_map_grants(struct file *service, u16 domid, const u32 *refs, u32 nr,
				    unsigned long addr, bool readonly, u64 *grant_ns)
{
	unsigned long len = (unsigned long)nr << PAGE_SHIFT, ret;
	struct xenib_gmap *m;

	if (addr && !xenib_back_window_covers(addr, len))
		return -EEXIST;
	m = xenib_gmap_new(domid, refs, nr, readonly);
	if (IS_ERR(m))
		return PTR_ERR(m);
	mutex_lock(&xenib_map_lock);
	xenib_map_gmap_pending = m;
	xenib_map_gmap_ns = 0;
	ret = vm_mmap(service, addr, len, readonly ? PROT_READ : PROT_READ | PROT_WRITE,
		      MAP_SHARED | (addr ? MAP_FIXED : 0), 0);
	*grant_ns = xenib_map_gmap_ns;
	if (xenib_map_gmap_pending) {
		/* vm_mmap failed before reaching our mmap handler. */
		xenib_gmap_free(xenib_map_gmap_pending);
		xenib_map_gmap_pending = NULL;
	}
	mutex_unlock(&xenib_map_lock);
	return ret;
}

/* Unmaps what the helpers above mapped; guest range gets its window back. */
int xenib_back_unmap_pages(unsigned long addr, unsigned long nr, struct xenib_window *w)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	unsigned long len = nr << PAGE_SHIFT, r;
	int ret;

	mmap_write_lock(mm);
	vma = vma_lookup(mm, addr);
	if (vma && vma->vm_ops == &xenib_region_vm_ops)
		vma->vm_private_data = NULL;
	mmap_write_unlock(mm);
	ret = vm_munmap(addr, len);
	if (!ret && w && xenib_back_in_guest_range(addr, len)) {
		r = xenib_window_map(w, addr, addr + len);
		if (IS_ERR_VALUE(r))
			ret = (int)r;
	}
	return ret;
}

/* ---- send doorbells of the real device's QPs ---- */

/* The QP the real device knows by `qpn`, with a restrack reference. */
struct ib_qp *xenib_back_qp_get(struct ib_device *dev, u32 qpn)
{
	struct rdma_restrack_entry *res = rdma_restrack_get_byid(dev, RDMA_RESTRACK_QP, qpn);

	return IS_ERR(res) ? NULL : container_of(res, struct ib_qp, res);
}

void xenib_back_qp_put(struct ib_qp *qp)
{
	rdma_restrack_put(&qp->res);
}

/* A zero-WR post_send: what uverbs does for a provider's doorbell write. */
int xenib_back_qp_kick(struct ib_qp *qp)
{
	return ib_post_send(qp, NULL, NULL);
}

/* ---- removal of the real device ---- */

static void xenib_back_client_remove(struct ib_device *ibdev, void *client_data)
{
	xenib_back_device_removed(ibdev);
}

static struct ib_client xenib_back_client = {
	.name = "xenib_back",
	.remove = xenib_back_client_remove,
};

int xenib_back_client_register(void)
{
	return ib_register_client(&xenib_back_client);
}

void xenib_back_client_unregister(void)
{
	ib_unregister_client(&xenib_back_client);
}

/* ---- the real device's uverbs file ---- */

struct file *xenib_back_file_open(const char *path)
{
	return filp_open(path, O_RDWR | O_CLOEXEC, 0);
}

/*
 * dom0's rdma_cm (ucma) file for one guest cm file: non-blocking, since
 * the server that reads its events (GET_EVENT) must never sleep in it.
 */
struct file *xenib_back_cm_file_open(const char *path)
{
	return filp_open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC, 0);
}

void xenib_back_file_get(struct file *file)
{
	get_file(file);
}

/*
 * Installs another reference to @file in the calling process's fd table:
 * ucma's MIGRATE_ID names the source file by descriptor, in the caller's
 * table. Closed again with xenib_close_fd().
 */
int xenib_back_install_file(struct file *file)
{
	int fd = get_unused_fd_flags(O_CLOEXEC);

	if (fd < 0)
		return fd;
	fd_install(fd, get_file(file));
	return fd;
}

/*
 * Release now: fput() from a task defers the release to its return to
 * user space, which the service thread does not reach while it serves.
 */
void xenib_back_file_close(struct file *file)
{
	__fput_sync(file);
}

ssize_t xenib_back_file_write(struct file *file, unsigned long ubuf, size_t len)
{
	loff_t pos = 0;

	if (!file->f_op->write)
		return -EINVAL;
	return file->f_op->write(file, (const char __user *)ubuf, len, &pos);
}

ssize_t xenib_back_file_read(struct file *file, unsigned long ubuf, size_t len)
{
	loff_t pos = 0;

	if (!file->f_op->read)
		return -EINVAL;
	return file->f_op->read(file, (char __user *)ubuf, len, &pos);
}

/*
 * Takes the event file behind an fd of the service process (a uverbs
 * completion channel or async event file), non-blocking, with our own
 * reference. The fd stays: uverbs looks completion channels up by fd.
 */
struct file *xenib_back_event_file_get(int fd)
{
	struct file *file = fget(fd);

	if (!file)
		return ERR_PTR(-EBADF);
	spin_lock(&file->f_lock);
	file->f_flags |= O_NONBLOCK;
	spin_unlock(&file->f_lock);
	return file;
}

void xenib_back_event_file_put(struct file *file)
{
	__fput_sync(file);	/* as in xenib_back_file_close() */
}

/*
 * Watching an event file without a thread: our entry on its wait queue
 * (as eventfd consumers and vhost do) turns a wake-up into a work item,
 * which calls back into Rust in process context.
 */
struct xenib_evwatch {
	wait_queue_entry_t wait;
	wait_queue_head_t *wqh;
	poll_table pt;
	struct work_struct work;
	void *data;
};

static void xenib_evwatch_work(struct work_struct *work)
{
	xenib_back_event_ready(container_of(work, struct xenib_evwatch, work)->data);
}

static int xenib_evwatch_wake(wait_queue_entry_t *wait, unsigned int mode, int sync, void *key)
{
	schedule_work(&container_of(wait, struct xenib_evwatch, wait)->work);
	return 0;
}

static void xenib_evwatch_queue(struct file *file, wait_queue_head_t *wqh, poll_table *pt)
{
	struct xenib_evwatch *w = container_of(pt, struct xenib_evwatch, pt);

	w->wqh = wqh;
	add_wait_queue(wqh, &w->wait);
}

struct xenib_evwatch *xenib_back_evwatch_start(struct file *file, void *data)
{
	struct xenib_evwatch *w = kzalloc(sizeof(*w), GFP_KERNEL);

	if (!w)
		return NULL;
	w->data = data;
	INIT_WORK(&w->work, xenib_evwatch_work);
	init_waitqueue_func_entry(&w->wait, xenib_evwatch_wake);
	init_poll_funcptr(&w->pt, xenib_evwatch_queue);
	/* Events already queued count too. */
	if (vfs_poll(file, &w->pt) & EPOLLIN)
		schedule_work(&w->work);
	return w;
}

void xenib_back_evwatch_stop(struct xenib_evwatch *w)
{
	if (w->wqh)
		remove_wait_queue(w->wqh, &w->wait);
	cancel_work_sync(&w->work);
	kfree(w);
}

/* ---- the service process's address space ---- */

unsigned long xenib_back_vm_mmap(struct file *file, unsigned long len, u64 offset)
{
	return vm_mmap(file, 0, len, PROT_READ | PROT_WRITE,
		       file ? MAP_SHARED : MAP_PRIVATE | MAP_ANONYMOUS, offset);
}

int xenib_back_vm_munmap(unsigned long addr, unsigned long len)
{
	return vm_munmap(addr, len);
}

/*
 * Maps the test MMIO file (test_mmio_file) into the service process;
 * -ENOENT if none is set.
 */
unsigned long xenib_back_vm_mmap_test_mmio(unsigned long len)
{
	char path[sizeof(test_mmio_file)];
	struct file *file;
	unsigned long addr;

	kernel_param_lock(THIS_MODULE);
	strscpy(path, test_mmio_file, sizeof(path));
	kernel_param_unlock(THIS_MODULE);
	strim(path);
	if (!path[0])
		return -ENOENT;
	file = filp_open(path, O_RDWR, 0);
	if (IS_ERR(file))
		return PTR_ERR(file);
	addr = vm_mmap(file, 0, len, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	/* The mapping holds its own reference. */
	fput(file);
	return addr;
}

/*
 * The I/O frames behind `nr` pages at `addr` of the service process, if
 * the driver mapped its device's memory there (rdma_user_mmap_io: a
 * VM_IO | VM_PFNMAP mapping, which cannot be pinned). Returns 1 with the
 * frames and their caching (0: uncached, 1: write-combining) if so, 0 if
 * the range is ordinary memory (to be pinned), or -errno: a mapping we do
 * not serve (over `room` pages, cached device memory, a mix of caching
 * modes, holes).
 */
int xenib_back_io_frames(unsigned long addr, unsigned long nr, u64 *frames, unsigned long room,
			 u16 *cache)
{
	const unsigned long uc = cachemode2protval(_PAGE_CACHE_MODE_UC);
	const unsigned long uc_minus = cachemode2protval(_PAGE_CACHE_MODE_UC_MINUS);
	const unsigned long wc = cachemode2protval(_PAGE_CACHE_MODE_WC);
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	unsigned long first = 0, i;
	int ret;

	mmap_read_lock(mm);
	vma = vma_lookup(mm, addr);
	if (!vma || (vma->vm_end - addr) >> PAGE_SHIFT < nr) {
		ret = -EFAULT;
		goto out;
	}
	if ((vma->vm_flags & (VM_IO | VM_PFNMAP)) != (VM_IO | VM_PFNMAP)) {
		ret = 0;
		goto out;
	}
	if (nr > room) {
		ret = -EINVAL;
		goto out;
	}
	for (i = 0; i < nr; i++) {
		struct follow_pfnmap_args args = { .vma = vma, .address = addr + (i << PAGE_SHIFT) };
		unsigned long mode;

		ret = follow_pfnmap_start(&args);
		if (ret)
			goto out;
		/* In a PV dom0, device memory is identity-mapped: pfn == mfn. */
		frames[i] = xen_pv_domain() ? pfn_to_mfn(args.pfn) : args.pfn;
		mode = pgprot_val(args.pgprot) & _PAGE_CACHE_MASK;
		follow_pfnmap_end(&args);
		if (i == 0)
			first = mode;
		if (mode != first) {
			ret = -EINVAL;
			goto out;
		}
	}
	if (first == uc || first == uc_minus) {
		*cache = 0;
		ret = 1;
	} else if (first == wc) {
		*cache = 1;
		ret = 1;
	} else {
		/* Cached device memory: nothing a doorbell uses. */
		ret = -EINVAL;
	}
out:
	mmap_read_unlock(mm);
	return ret;
}

/*
 * Xen's domain control interface, version 0x15 (Xen 4.17), of which we
 * use two operations. Domctls are not a stable ABI: another Xen release
 * answers -EACCES and these calls fail cleanly (xenib_xen_domctl_version
 * overrides the version for a Xen whose structures are unchanged).
 */
#define XENIB_DOMCTL_getdomaininfo 5
#define XENIB_DOMCTL_iomem_permission 20
#define XENIB_DOMCTL_memory_mapping 39
#define XENIB_DOMINF_dying (1U << 0)

static unsigned int xen_domctl_version = 0x15;
module_param(xen_domctl_version, uint, 0444);
MODULE_PARM_DESC(xen_domctl_version, "Xen's domctl interface version (default 0x15, Xen 4.17)");

struct xenib_domctl {
	u32 cmd;
	u32 interface_version;
	u16 domain;
	u16 pad[3];
	union {
		struct {
			u64 first_mfn;
			u64 nr_mfns;
			u8 allow_access;
		} iomem_permission;
		struct {
			u64 first_gfn;
			u64 first_mfn;
			u64 nr_mfns;
			u32 add_mapping;
			u32 padding;
		} memory_mapping;
		struct {
			u16 domain;
			u16 pad1;
			u32 flags;
			u64 pages[7];
			u32 nr_online_vcpus, max_vcpu_id, ssidref;
			u8 handle[16];
		} getdomaininfo;
		u8 pad_union[128];
	} u;
};

static int xenib_domctl(struct xenib_domctl *op)
{
	if (!xen_initial_domain())
		return -ENODEV;
	op->interface_version = xen_domctl_version;
	return privcmd_call(__HYPERVISOR_domctl, (unsigned long)op, 0, 0, 0, 0);
}

/* Gives `domid` access to one frame of device memory, or takes it back. */
int xenib_back_iomem_permit(u16 domid, u64 frame, bool allow)
{
	struct xenib_domctl op = {
		.cmd = XENIB_DOMCTL_iomem_permission,
		.domain = domid,
		.u.iomem_permission = { .first_mfn = frame, .nr_mfns = 1, .allow_access = allow },
	};

	return xenib_domctl(&op);
}

/*
 * Puts one frame of device memory at guest frame `gfn` of an
 * auto-translated domain's physical map, or takes it out.
 */
int xenib_back_memory_mapping(u16 domid, u64 gfn, u64 frame, bool add)
{
	struct xenib_domctl op = {
		.cmd = XENIB_DOMCTL_memory_mapping,
		.domain = domid,
		.u.memory_mapping = { .first_gfn = gfn, .first_mfn = frame, .nr_mfns = 1,
				      .add_mapping = add },
	};

	return xenib_domctl(&op);
}

/*
 * Whether domain `domid` lives (1, with its handle, the UUID that tells it
 * from a later domain given the same id), is gone or dying (0), or -errno.
 */
int xenib_back_domain_alive(u16 domid, u8 *handle)
{
	struct xenib_domctl op = { .cmd = XENIB_DOMCTL_getdomaininfo, .domain = domid };
	int ret = xenib_domctl(&op);

	if (ret == -ESRCH)
		return 0;
	if (ret)
		return ret;
	/* Xen answers with the next domain when this one is gone. */
	if (op.u.getdomaininfo.domain != domid || (op.u.getdomaininfo.flags & XENIB_DOMINF_dying))
		return 0;
	memcpy(handle, op.u.getdomaininfo.handle, 16);
	return 1;
}

long xenib_back_pin_pages(unsigned long addr, unsigned long nr, struct page **pages)
{
	return pin_user_pages_fast(addr, nr, FOLL_WRITE, pages);
}

void xenib_back_unpin_pages(struct page **pages, unsigned long nr)
{
	unpin_user_pages(pages, nr);
}

int xenib_get_driver_id(struct ib_device *ibdev)
{
	return ibdev->ops.driver_id;
}

u32 xenib_get_uverbs_abi_ver(struct ib_device *ibdev)
{
	return ibdev->ops.uverbs_abi_ver;
}
/* The loopback transport's rendezvous, implemented in loopback.rs. */
EXPORT_SYMBOL_GPL(xenib_loop_connect);

/* ---- the Xen backend driver (xen.rs) ---- */

static const struct xenbus_device_id xenib_back_ids[] = {
	{ "vrdma" },
	{ "" }
};

static int xenib_back_probe(struct xenbus_device *dev, const struct xenbus_device_id *id)
{
	return xenib_back_xen_probed(dev);
}

static void xenib_back_frontend_changed(struct xenbus_device *dev, enum xenbus_state state)
{
	xenib_back_xen_frontend_changed(dev, state);
}

static void xenib_back_remove(struct xenbus_device *dev)
{
	xenib_back_xen_removed(dev);
}

static struct xenbus_driver xenib_back_driver = {
	.ids = xenib_back_ids,
	.probe = xenib_back_probe,
	.otherend_changed = xenib_back_frontend_changed,
	.remove = xenib_back_remove,
};

int xenib_back_xen_register(void)
{
	xenib_page_cache_setup();
	return xenbus_register_backend(&xenib_back_driver);
}

void xenib_back_xen_unregister(void)
{
	xenbus_unregister_driver(&xenib_back_driver);
	xenib_page_cache_drain();
}

#include "common_helpers.c"
