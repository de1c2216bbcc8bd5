// SPDX-License-Identifier: GPL-2.0
/*
 * Helpers both modules use: static inline functions wrapped for Rust.
 * Each module's helpers.c includes this file, so each .ko has its own copy.
 */
#include <linux/err.h>
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/gfp.h>
#include <linux/jiffies.h>
#include <linux/delay.h>
#include <linux/mm.h>
#include <linux/ratelimit.h>
#include <linux/sched.h>
#include <linux/uaccess.h>
#include <rdma/ib_cache.h>
#include "xenib_helpers.h"

u64 xenib_jiffies(void)
{
	return get_jiffies_64();
}

unsigned long xenib_msecs_to_jiffies(unsigned int ms)
{
	return msecs_to_jiffies(ms);
}

bool xenib_need_resched(void)
{
	return need_resched();
}

void xenib_msleep(unsigned int ms)
{
	msleep(ms);
}

/*
 * Closes an fd of the current process and releases its file now:
 * close_fd() would defer the release to the task's return to user space,
 * which a service thread serving inside an ioctl does not reach.
 */
int xenib_close_fd(unsigned int fd)
{
	struct file *file = file_close_fd(fd);

	if (!file)
		return -EBADF;
	__fput_sync(file);
	return 0;
}

/*
 * The index of GID @gid of type @type (IB_UVERBS_GID_TYPE_*) in @port's
 * table of @dev, or -errno (-ENOENT: not in the table).
 */
int xenib_find_gid(struct ib_device *dev, u32 port, const u8 *gid, u8 type)
{
	const struct ib_gid_attr *attr;
	union ib_gid g;
	int index;

	memcpy(g.raw, gid, sizeof(g.raw));
	attr = rdma_find_gid_by_port(dev, &g, type, port, NULL);
	if (IS_ERR(attr))
		return PTR_ERR(attr);
	index = attr->index;
	rdma_put_gid_attr(attr);
	return index;
}

/* The GID (16 bytes into @gid) and its type at @index of @port's table. */
int xenib_gid_at(struct ib_device *dev, u32 port, u32 index, u8 *gid, u8 *type)
{
	const struct ib_gid_attr *attr = rdma_get_gid_attr(dev, port, index);

	if (IS_ERR(attr))
		return PTR_ERR(attr);
	memcpy(gid, attr->gid.raw, sizeof(attr->gid.raw));
	*type = attr->gid_type;
	rdma_put_gid_attr(attr);
	return 0;
}

int xenib_copy_to_user(unsigned long uaddr, const void *src, unsigned long len)
{
	return copy_to_user((void __user *)uaddr, src, len) ? -EFAULT : 0;
}

int xenib_copy_from_user(void *dst, unsigned long uaddr, unsigned long len)
{
	return copy_from_user(dst, (const void __user *)uaddr, len) ? -EFAULT : 0;
}

long xenib_ptr_err(const void *ptr)
{
	return IS_ERR(ptr) ? PTR_ERR(ptr) : 0;
}

void xenib_get_page(struct page *page)
{
	get_page(page);
}

void xenib_put_page(struct page *page)
{
	put_page(page);
}

void *xenib_page_address(struct page *page)
{
	return page_address(page);
}

struct page *xenib_alloc_zeroed_page(void)
{
	return alloc_page(GFP_KERNEL | __GFP_ZERO);
}

void *xenib_alloc_pages(unsigned int order)
{
	struct page *page = alloc_pages(GFP_KERNEL | __GFP_ZERO, order);

	return page ? page_address(page) : NULL;
}

void xenib_free_pages(void *addr, unsigned int order)
{
	free_pages((unsigned long)addr, order);
}

/* One rate limit for all of a module's logs of peer misbehaviour. */
static DEFINE_RATELIMIT_STATE(xenib_rs, 5 * HZ, 10);

bool xenib_ratelimit(void)
{
	return __ratelimit(&xenib_rs);
}
