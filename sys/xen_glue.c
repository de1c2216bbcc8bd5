// SPDX-License-Identifier: GPL-2.0
/*
 * The Xen layer both modules share (included by each helpers.c, like
 * common_helpers.c): event channels, page grants, and grant mappings
 * into user address spaces. Everything above it is Rust.
 *
 * Event channels are handled in process context: the hard interrupt only
 * queues a work item, which runs the Rust handler and then sends the late
 * EOI, so a frontend that floods us with events cannot keep a CPU in
 * interrupt context (the same protection as blkback's and netback's).
 *
 * Grant mappings into a user VMA follow drivers/xen/gntdev.c: in a PV
 * domain the hypervisor refuses ordinary PTEs to another domain's frames,
 * so the grants are mapped straight into the process's PTEs
 * (GNTMAP_contains_pte), with a second, kernel mapping so that the pages
 * can be used by the kernel (GUP through find_special_page, the real
 * driver's kmap). The user PTEs must be unmapped through the hypervisor
 * before the kernel zaps them (Xen kills a domain that drops a granted
 * PTE implicitly), hence the MMU interval notifier. In an auto-translated
 * domain (PVH, HVM) the grants are mapped once into our pages, which are
 * then inserted into the VMA as ordinary pages.
 */
#include <linux/mmu_notifier.h>
#include <linux/workqueue.h>
#include <xen/events.h>
#include <xen/grant_table.h>
#include <xen/page.h>
#include <xen/xen.h>
#include <xen/xenbus.h>
#include <xen/interface/grant_table.h>
#include <asm/xen/page.h>

bool xenib_xen_domain(void)
{
	return xen_domain();
}

bool xenib_xen_initial_domain(void)
{
	return xen_initial_domain();
}

/* ---- event channels ---- */

/*
 * `irq` is the binding, for notifying and unbinding (-1 once unbound);
 * `lock` keeps a notification from racing the unbinding (and the number
 * from being reused meanwhile). `eoi_irq` is what the handler was called
 * with: the channel can fire before the binding call has returned.
 */
struct xenib_evtchn {
	struct work_struct work;
	spinlock_t lock;
	int irq;
	int eoi_irq;
	void (*fn)(void *data);
	void *data;
};

static irqreturn_t xenib_evtchn_interrupt(int irq, void *dev_id)
{
	struct xenib_evtchn *ch = dev_id;

	WRITE_ONCE(ch->eoi_irq, irq);
	/* Already queued: the handler will see this event's work too. */
	if (!queue_work(system_highpri_wq, &ch->work))
		xen_irq_lateeoi(irq, XEN_EOI_FLAG_SPURIOUS);
	return IRQ_HANDLED;
}

static void xenib_evtchn_work(struct work_struct *work)
{
	struct xenib_evtchn *ch = container_of(work, struct xenib_evtchn, work);

	ch->fn(ch->data);
	xen_irq_lateeoi(READ_ONCE(ch->eoi_irq), 0);
}

/*
 * Binds an event channel: the remote end `remote_port` of `dev`'s other
 * end (backend), or, if `remote_port` is 0, a new channel allocated for
 * the other end, whose number goes to *local_port (frontend). `fn(data)`
 * runs in process context for every batch of events.
 */
struct xenib_evtchn *xenib_evtchn_bind(struct xenbus_device *dev, u32 remote_port,
				       void (*fn)(void *data), void *data,
				       const char *name, u32 *local_port)
{
	struct xenib_evtchn *ch = kzalloc(sizeof(*ch), GFP_KERNEL);
	evtchn_port_t port;
	int err;

	if (!ch)
		return ERR_PTR(-ENOMEM);
	INIT_WORK(&ch->work, xenib_evtchn_work);
	spin_lock_init(&ch->lock);
	ch->irq = -1;
	ch->fn = fn;
	ch->data = data;
	if (remote_port) {
		err = bind_interdomain_evtchn_to_irqhandler_lateeoi(
			dev, remote_port, xenib_evtchn_interrupt, 0, name, ch);
	} else {
		err = xenbus_alloc_evtchn(dev, &port);
		if (err)
			goto fail;
		err = bind_evtchn_to_irqhandler_lateeoi(port, xenib_evtchn_interrupt,
							0, name, ch);
		if (err < 0)
			xenbus_free_evtchn(dev, port);
		else
			*local_port = port;
	}
	if (err < 0)
		goto fail;
	spin_lock_irq(&ch->lock);
	ch->irq = err;
	spin_unlock_irq(&ch->lock);
	return ch;
fail:
	kfree(ch);
	return ERR_PTR(err);
}

/* Raises the other end; does nothing once unbound. Any context. */
void xenib_evtchn_notify(struct xenib_evtchn *ch)
{
	unsigned long flags;

	spin_lock_irqsave(&ch->lock, flags);
	if (ch->irq >= 0)
		notify_remote_via_irq(ch->irq);
	spin_unlock_irqrestore(&ch->lock, flags);
}

/*
 * Unbinds (closing the channel): no handler runs after this returns, and
 * notifications do nothing. Idempotent; the structure stays valid.
 */
void xenib_evtchn_unbind(struct xenib_evtchn *ch)
{
	int irq;

	spin_lock_irq(&ch->lock);
	irq = ch->irq;
	ch->irq = -1;
	spin_unlock_irq(&ch->lock);
	if (irq < 0)
		return;
	disable_irq(irq);	/* waits for a running handler */
	cancel_work_sync(&ch->work);
	unbind_from_irqhandler(irq, ch);
}

void xenib_evtchn_free(struct xenib_evtchn *ch)
{
	xenib_evtchn_unbind(ch);
	kfree(ch);
}

/* ---- rings and xenstore ---- */

int xenib_ring_setup(struct xenbus_device *dev, void **vaddr, u32 nr_pages, u32 *grefs)
{
	return xenbus_setup_ring(dev, GFP_KERNEL | __GFP_ZERO, vaddr, nr_pages, grefs);
}

/*
 * Ends a ring's grants and lets go of its pages. Unlike
 * xenbus_teardown_ring(), which frees the pages at once even when the
 * other end still maps them, each page goes with its grant: freed as soon
 * as the other end no longer maps it (at once if it never did), so that a
 * late write of the backend's never lands in reused memory. The pages
 * come from xenbus_setup_ring()'s alloc_pages_exact(): order-0 pages with
 * one reference each, which gnttab_end_foreign_access() takes over.
 */
void xenib_ring_teardown(void **vaddr, u32 nr_pages, u32 *grefs)
{
	u32 i;

	if (!*vaddr)
		return;
	for (i = 0; i < nr_pages; i++) {
		struct page *page = virt_to_page(*vaddr + i * XEN_PAGE_SIZE);

		if (grefs[i] != INVALID_GRANT_REF) {
			gnttab_end_foreign_access(grefs[i], page);
			grefs[i] = INVALID_GRANT_REF;
		} else {
			__free_page(page);
		}
	}
	*vaddr = NULL;
}

void *xenib_ring_map(struct xenbus_device *dev, u32 *grefs, u32 nr)
{
	void *vaddr;
	int err = xenbus_map_ring_valloc(dev, grefs, nr, &vaddr);

	return err ? ERR_PTR(err) : vaddr;
}

void xenib_ring_unmap(struct xenbus_device *dev, void *vaddr)
{
	xenbus_unmap_ring_vfree(dev, vaddr);
}

/* Writes `dir`/`node` = `val` (decimal) in transaction `t` (0: none). */
int xenib_xs_write_u32(u32 t, const char *dir, const char *node, u32 val)
{
	struct xenbus_transaction xbt = { .id = t };

	return xenbus_printf(xbt, dir, node, "%u", val);
}

/*
 * Reads number node @dir/@node: -ENOENT if there is none, -EINVAL if it
 * is not a number (xenbus_scanf says -ERANGE).
 */
int xenib_xs_read_u32(const char *dir, const char *node, u32 *val)
{
	int ret = xenbus_scanf(XBT_NIL, dir, node, "%u", val);

	if (ret == 1)
		return 0;
	return ret == -ERANGE || ret >= 0 ? -EINVAL : ret;
}

/*
 * Reads string node @dir/@node into @buf (@len bytes with the NUL):
 * -ENOENT if there is none, -E2BIG if it does not fit.
 */
int xenib_xs_read_str(const char *dir, const char *node, char *buf, size_t len)
{
	unsigned int n;
	char *val = xenbus_read(XBT_NIL, dir, node, &n);
	int ret = 0;

	if (IS_ERR(val))
		return PTR_ERR(val);
	if (n >= len)
		ret = -E2BIG;
	else
		memcpy(buf, val, n + 1);
	kfree(val);
	return ret;
}

int xenib_xs_start(u32 *t)
{
	struct xenbus_transaction xbt;
	int err = xenbus_transaction_start(&xbt);

	*t = xbt.id;
	return err;
}

/* Ends a transaction; -EAGAIN means it must be redone. */
int xenib_xs_end(u32 t, bool abort)
{
	struct xenbus_transaction xbt = { .id = t };

	return xenbus_transaction_end(xbt, abort);
}

void xenib_get_device(struct xenbus_device *dev)
{
	get_device(&dev->dev);
}

void xenib_put_device(struct xenbus_device *dev)
{
	put_device(&dev->dev);
}

const char *xenib_xs_nodename(struct xenbus_device *dev)
{
	return dev->nodename;
}

const char *xenib_xs_otherend(struct xenbus_device *dev)
{
	return dev->otherend;
}

u32 xenib_xs_otherend_id(struct xenbus_device *dev)
{
	return dev->otherend_id;
}

void xenib_xs_set_drvdata(struct xenbus_device *dev, void *data)
{
	dev_set_drvdata(&dev->dev, data);
}

void *xenib_xs_get_drvdata(struct xenbus_device *dev)
{
	return dev_get_drvdata(&dev->dev);
}

int xenib_xs_state(struct xenbus_device *dev)
{
	return dev->state;
}

/* ---- grants of our pages ---- */

/* Grants `page` to `domid`: the reference, or -errno. */
int xenib_grant_page(u16 domid, struct page *page, bool readonly)
{
	return gnttab_grant_foreign_access(domid, xen_page_to_gfn(page), readonly);
}

/*
 * Ends a grant. If the other side still maps the page, the grant ends
 * later; the page stays allocated until then (the reference we take here
 * is dropped when access has ended).
 */
void xenib_end_grant(u32 ref, struct page *page)
{
	get_page(page);
	gnttab_end_foreign_access(ref, page);
}

/* Copies the page `domid` granted as `ref` into `buf` (one page). */
int xenib_grant_copy_in(u16 domid, u32 ref, void *buf)
{
	struct gnttab_copy op = {
		.source.u.ref = ref,
		.source.domid = domid,
		.dest.u.gmfn = virt_to_gfn(buf),
		.dest.domid = DOMID_SELF,
		.dest.offset = offset_in_page(buf),
		.len = XEN_PAGE_SIZE,
		.flags = GNTCOPY_source_gref,
	};

	if (offset_in_page(buf))
		return -EINVAL;
	gnttab_batch_copy(&op, 1);
	/* A reference that names no grant of `domid`: as on any transport. */
	return op.status == GNTST_okay ? 0 : -EINVAL;
}

/* ---- grant mappings into a user VMA ---- */

/*
 * Ballooned pages to map grants into, kept between mappings. Taking them
 * from the balloon and giving them back costs a reservation hypercall and
 * p2m updates per page every time: most of the time of a 1 MiB memory
 * registration in a PV dom0 (bench/), as blkback and netback found before
 * us (their pools of pages for persistent grants use the same cache).
 * A cached page holds no memory (its frame went back to Xen) but counts
 * against this domain's reservation: at most XENIB_PAGE_CACHE_MAX stay.
 */
#define XENIB_PAGE_CACHE_MAX 8192
static struct gnttab_page_cache xenib_page_cache;

static void xenib_page_cache_setup(void)
{
	gnttab_page_cache_init(&xenib_page_cache);
}

/* On module unload, when no mapping is left. */
static void xenib_page_cache_drain(void)
{
	gnttab_page_cache_shrink(&xenib_page_cache, 0);
}

/* Pages out of the cache and balloon (mapping grants), and those lost. */
static atomic_long_t xenib_pages_in_use, xenib_pages_leaked;

/* For the counters (/dev/xenib_back). */
void xenib_xen_page_counts(long *in_use, long *leaked)
{
	*in_use = atomic_long_read(&xenib_pages_in_use);
	*leaked = atomic_long_read(&xenib_pages_leaked);
}

static int xenib_pages_get(struct page **pages, unsigned int n)
{
	unsigned int i;

	/* From the cache while it has pages, then from the balloon in one go. */
	for (i = 0; i < n && READ_ONCE(xenib_page_cache.num_pages); i++)
		if (gnttab_page_cache_get(&xenib_page_cache, &pages[i]))
			break;
	if (i < n && gnttab_alloc_pages(n - i, pages + i)) {
		gnttab_page_cache_put(&xenib_page_cache, pages, i);
		return -ENOMEM;
	}
	atomic_long_add(n, &xenib_pages_in_use);
	return 0;
}

/* The pages must be unmapped (their p2m entries restored). */
static void xenib_pages_put(struct page **pages, unsigned int n)
{
	gnttab_page_cache_put(&xenib_page_cache, pages, n);
	gnttab_page_cache_shrink(&xenib_page_cache, XENIB_PAGE_CACHE_MAX);
	atomic_long_sub(n, &xenib_pages_in_use);
}

struct xenib_gmap {
	struct mmu_interval_notifier notifier;
	struct mutex lock;
	bool ptemod;		/* PV: grants go into the user PTEs */
	bool notifier_on;
	bool mapped;		/* some grant is mapped */
	bool unmap_failed;	/* pages may still map grants: never reuse */
	u16 domid;
	u32 flags;		/* GNTMAP_* of the mapping */
	unsigned int count;
	unsigned long start;	/* user address of page 0 */
	u32 *refs;
	struct page **pages;
	struct gnttab_map_grant_ref *map_ops, *kmap_ops;
	struct gnttab_unmap_grant_ref *unmap_ops, *kunmap_ops;
};

static void xenib_gmap_free(struct xenib_gmap *m)
{
	if (m->pages && m->pages[0]) {
		if (!m->unmap_failed) {
			xenib_pages_put(m->pages, m->count);
		} else {
			atomic_long_sub(m->count, &xenib_pages_in_use);
			atomic_long_add(m->count, &xenib_pages_leaked);
		}
	}
	kvfree(m->refs);
	kvfree(m->pages);
	kvfree(m->map_ops);
	kvfree(m->kmap_ops);
	kvfree(m->unmap_ops);
	kvfree(m->kunmap_ops);
	kfree(m);
}

/* A mapping of `count` grants of `domid`, not yet placed anywhere. */
struct xenib_gmap *xenib_gmap_new(u16 domid, const u32 *refs, u32 count, bool readonly)
{
	struct xenib_gmap *m;

	if (!count || count > (1U << 20))
		return ERR_PTR(-EINVAL);
	m = kzalloc(sizeof(*m), GFP_KERNEL);
	if (!m)
		return ERR_PTR(-ENOMEM);
	mutex_init(&m->lock);
	m->ptemod = !xen_feature(XENFEAT_auto_translated_physmap);
	m->domid = domid;
	m->count = count;
	m->flags = GNTMAP_host_map | (readonly ? GNTMAP_readonly : 0);
	m->refs = kvmalloc_array(count, sizeof(*m->refs), GFP_KERNEL);
	m->pages = kvcalloc(count, sizeof(*m->pages), GFP_KERNEL);
	m->map_ops = kvcalloc(count, sizeof(*m->map_ops), GFP_KERNEL);
	m->unmap_ops = kvcalloc(count, sizeof(*m->unmap_ops), GFP_KERNEL);
	if (m->ptemod) {
		m->kmap_ops = kvcalloc(count, sizeof(*m->kmap_ops), GFP_KERNEL);
		m->kunmap_ops = kvcalloc(count, sizeof(*m->kunmap_ops), GFP_KERNEL);
	}
	if (!m->refs || !m->pages || !m->map_ops || !m->unmap_ops ||
	    (m->ptemod && (!m->kmap_ops || !m->kunmap_ops)))
		goto nomem;
	if (xenib_pages_get(m->pages, count)) {
		m->pages[0] = NULL;
		goto nomem;
	}
	memcpy(m->refs, refs, count * sizeof(*refs));
	return m;
nomem:
	xenib_gmap_free(m);
	return ERR_PTR(-ENOMEM);
}

/* Unmaps every grant (user and kernel mappings); m->lock held. */
static void xenib_gmap_unmap_locked(struct xenib_gmap *m)
{
	struct gntab_unmap_queue_data unmap = {
		.unmap_ops = m->unmap_ops,
		.kunmap_ops = m->ptemod ? m->kunmap_ops : NULL,
		.pages = m->pages,
		.count = m->count,
	};

	unsigned int i, failed = 0;

	if (!m->mapped)
		return;
	m->mapped = false;
	/* The hypervisor overwrites these for every op it carries out. */
	for (i = 0; i < m->count; i++) {
		m->unmap_ops[i].status = GNTST_general_error;
		if (m->ptemod)
			m->kunmap_ops[i].status = GNTST_general_error;
	}
	/* Its result also counts the slots below that never mapped. */
	gnttab_unmap_refs_sync(&unmap);
	/*
	 * As gntdev does: a slot that never mapped (a bad reference from the
	 * other domain) has no handle and fails its unmap harmlessly, as does
	 * the p2m reset of its page, which never held a foreign frame. Only a
	 * grant that had a handle and stays mapped makes the pages unusable.
	 */
	for (i = 0; i < m->count; i++) {
		if (m->unmap_ops[i].handle != INVALID_GRANT_HANDLE &&
		    m->unmap_ops[i].status != GNTST_okay)
			failed++;
		else if (m->ptemod && m->kunmap_ops[i].handle != INVALID_GRANT_HANDLE &&
			 m->kunmap_ops[i].status != GNTST_okay)
			failed++;
		m->unmap_ops[i].handle = INVALID_GRANT_HANDLE;
		if (m->ptemod)
			m->kunmap_ops[i].handle = INVALID_GRANT_HANDLE;
	}
	if (failed) {
		pr_warn("xenib: %u of %u grants of domain %u stay mapped; leaking the pages\n",
			failed, m->count, m->domid);
		m->unmap_failed = true;
	}
}

static bool xenib_gmap_invalidate(struct mmu_interval_notifier *mn,
				  const struct mmu_notifier_range *range,
				  unsigned long cur_seq)
{
	struct xenib_gmap *m = container_of(mn, struct xenib_gmap, notifier);

	if (!mmu_notifier_range_blockable(range))
		return false;
	mutex_lock(&m->lock);
	mmu_interval_set_seq(mn, cur_seq);
	/* The VMA cannot be split: any overlap is the whole mapping going. */
	xenib_gmap_unmap_locked(m);
	mutex_unlock(&m->lock);
	return true;
}

static const struct mmu_interval_notifier_ops xenib_gmap_mmu_ops = {
	.invalidate = xenib_gmap_invalidate,
};

/* Unmaps whatever is still mapped and frees the mapping. */
static void xenib_gmap_release(struct xenib_gmap *m)
{
	mutex_lock(&m->lock);
	xenib_gmap_unmap_locked(m);
	mutex_unlock(&m->lock);
	if (m->notifier_on)
		mmu_interval_notifier_remove(&m->notifier);
	xenib_gmap_free(m);
}

static void xenib_gmap_vma_close(struct vm_area_struct *vma)
{
	xenib_gmap_release(vma->vm_private_data);
}

static struct page *xenib_gmap_find_special_page(struct vm_area_struct *vma,
						 unsigned long addr)
{
	struct xenib_gmap *m = vma->vm_private_data;

	return m->pages[(addr - m->start) >> PAGE_SHIFT];
}

static int xenib_gmap_may_split(struct vm_area_struct *vma, unsigned long addr)
{
	return -EINVAL;
}

static int xenib_gmap_mremap(struct vm_area_struct *vma)
{
	return -EINVAL;
}

static const struct vm_operations_struct xenib_gmap_vm_ops = {
	.close = xenib_gmap_vma_close,
	.find_special_page = xenib_gmap_find_special_page,
	.may_split = xenib_gmap_may_split,
	.mremap = xenib_gmap_mremap,
};

static int xenib_gmap_find_ptes(pte_t *pte, unsigned long addr, void *data)
{
	struct xenib_gmap *m = data;
	unsigned int i = (addr - m->start) >> PAGE_SHIFT;
	u32 flags = m->flags | GNTMAP_application_map | GNTMAP_contains_pte |
		    (1 << _GNTMAP_guest_avail0);
	u64 pte_maddr = arbitrary_virt_to_machine(pte).maddr;

	if (i >= m->count)
		return -EINVAL;
	gnttab_set_map_op(&m->map_ops[i], pte_maddr, flags, m->refs[i], m->domid);
	gnttab_set_unmap_op(&m->unmap_ops[i], pte_maddr, flags, INVALID_GRANT_HANDLE);
	return 0;
}

/* PV without the hypervisor setting the PTEs' special bit: set it. */
static int xenib_gmap_set_special(pte_t *pte, unsigned long addr, void *data)
{
	set_pte_at(current->mm, addr, pte, pte_mkspecial(*pte));
	return 0;
}

/* Undoes a failed xenib_gmap_mmap (the core calls no close then). */
static int xenib_gmap_mmap_failed(struct xenib_gmap *m, int err)
{
	xenib_gmap_release(m);
	return err;
}

/*
 * Maps `m` into `vma` (being set up by an mmap handler, mmap lock held
 * for writing) and gives it to the VMA: it is unmapped and freed when the
 * VMA closes. On failure it is freed here (the core calls no close hook
 * after a failed mmap).
 */
int xenib_gmap_mmap(struct xenib_gmap *m, struct vm_area_struct *vma)
{
	unsigned long len = vma->vm_end - vma->vm_start;
	unsigned int i;
	int err;

	if (len != (unsigned long)m->count << PAGE_SHIFT ||
	    ((vma->vm_flags & VM_WRITE) && (m->flags & GNTMAP_readonly)))
		return xenib_gmap_mmap_failed(m, -EINVAL);
	if (!(vma->vm_flags & VM_SHARED) || (m->flags & GNTMAP_readonly))
		vm_flags_clear(vma, VM_MAYWRITE);
	vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP | VM_DONTCOPY | VM_MIXEDMAP);
	m->start = vma->vm_start;

	for (i = 0; i < m->count; i++) {
		unsigned long kaddr = (unsigned long)pfn_to_kaddr(page_to_pfn(m->pages[i]));

		if (m->ptemod) {
			/* The kernel's own mapping of the page. */
			gnttab_set_map_op(&m->kmap_ops[i], kaddr, m->flags, m->refs[i], m->domid);
			gnttab_set_unmap_op(&m->kunmap_ops[i], kaddr, m->flags,
					    INVALID_GRANT_HANDLE);
		} else {
			gnttab_set_map_op(&m->map_ops[i], kaddr, m->flags, m->refs[i], m->domid);
			gnttab_set_unmap_op(&m->unmap_ops[i], kaddr, m->flags,
					    INVALID_GRANT_HANDLE);
		}
	}
	if (m->ptemod) {
		err = mmu_interval_notifier_insert_locked(&m->notifier, vma->vm_mm,
							  vma->vm_start, len,
							  &xenib_gmap_mmu_ops);
		if (err)
			return xenib_gmap_mmap_failed(m, err);
		m->notifier_on = true;
		/* We hold the mmap lock: the PTEs cannot go meanwhile. */
		mmu_interval_read_begin(&m->notifier);
		err = apply_to_page_range(vma->vm_mm, vma->vm_start, len,
					  xenib_gmap_find_ptes, m);
		if (err)
			return xenib_gmap_mmap_failed(m, err);
	}

	mutex_lock(&m->lock);
	err = gnttab_map_refs(m->map_ops, m->ptemod ? m->kmap_ops : NULL, m->pages, m->count);
	m->mapped = true;
	for (i = 0; i < m->count; i++) {
		/* A reference that does not map (names no grant): EINVAL. */
		if (m->map_ops[i].status == GNTST_okay)
			m->unmap_ops[i].handle = m->map_ops[i].handle;
		else if (!err)
			err = -EINVAL;
		if (m->ptemod) {
			if (m->kmap_ops[i].status == GNTST_okay)
				m->kunmap_ops[i].handle = m->kmap_ops[i].handle;
			else if (!err)
				err = -EINVAL;
		}
	}
	mutex_unlock(&m->lock);
	if (!err && !m->ptemod)
		err = vm_map_pages_zero(vma, m->pages, m->count);
	if (err)
		return xenib_gmap_mmap_failed(m, err);
#ifdef CONFIG_X86
	if (m->ptemod && !xen_feature(XENFEAT_gnttab_map_avail_bits))
		apply_to_page_range(vma->vm_mm, vma->vm_start, len,
				    xenib_gmap_set_special, NULL);
#endif
	vma->vm_ops = &xenib_gmap_vm_ops;
	vma->vm_private_data = m;
	return 0;
}
