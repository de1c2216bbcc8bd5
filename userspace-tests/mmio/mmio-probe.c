// SPDX-License-Identifier: GPL-2.0
/*
 * xenib-mmio-probe: the MMIO doorbell-page tests' hands (userspace-tests/
 * xen/19-mmio-region.sh).
 *
 *   region DEV PATTERN [HOLD_S]  open DEV, mmap the test MMIO region of its
 *                                context (ib_back's test_mmio_file, at
 *                                offset 2^44), fill the page with PATTERN
 *                                ^ word index, read it back, hold it HOLD_S
 *                                seconds, exit (closing the context)
 *   raw FRAME                    map machine frame FRAME through Xen as
 *                                device memory (DOMID_IO, /dev/xen/privcmd),
 *                                as a hostile process of this domain could,
 *                                and print its first word
 *   check FILE PATTERN           mmap FILE (dom0: the BAR's sysfs resource)
 *                                and check the page holds what `region`
 *                                wrote
 *
 * Exit status: 0 done, 2 the mapping was refused (errno printed), 1 other.
 */
#include <errno.h>
#include <fcntl.h>
#include <infiniband/verbs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096
#define WORDS (PAGE / 8)
#define MMIO_TEST_OFFSET (1ULL << 44)

/* include/uapi/xen/privcmd.h */
struct privcmd_mmap_entry {
	uint64_t va;
	uint64_t mfn;
	uint64_t npages;
};

struct privcmd_mmap {
	int num;
	uint16_t dom;
	struct privcmd_mmap_entry *entry;
};

#define IOCTL_PRIVCMD_MMAP _IOC(_IOC_NONE, 'P', 2, sizeof(struct privcmd_mmap))
#define DOMID_IO 0x7FF1

static const char *errname(int e)
{
	switch (e) {
	case EBUSY: return "EBUSY";
	case EPERM: return "EPERM";
	case EINVAL: return "EINVAL";
	case ENOENT: return "ENOENT";
	case EFAULT: return "EFAULT";
	case EACCES: return "EACCES";
	case ESRCH: return "ESRCH";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	default: return "other";
	}
}

static int refused(const char *what)
{
	int e = errno;

	printf("%s: refused: %s (%s)\n", what, errname(e), strerror(e));
	return 2;
}

static int region(const char *dev, uint64_t pattern, unsigned int hold)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_context *ctx = NULL;
	volatile uint64_t *p;
	int i;

	for (i = 0; list && list[i]; i++)
		if (!strcmp(ibv_get_device_name(list[i]), dev))
			ctx = ibv_open_device(list[i]);
	if (!ctx) {
		fprintf(stderr, "cannot open %s\n", dev);
		return 1;
	}
	p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, ctx->cmd_fd, MMIO_TEST_OFFSET);
	if (p == MAP_FAILED)
		return refused("region");
	for (i = 0; i < WORDS; i++)
		p[i] = pattern ^ i;
	for (i = 0; i < WORDS; i++) {
		if (p[i] != (pattern ^ i)) {
			printf("region: word %d reads %#llx\n", i, (unsigned long long)p[i]);
			return 1;
		}
	}
	printf("region: mapped, %d words written and read back\n", WORDS);
	fflush(stdout);
	sleep(hold);
	munmap((void *)p, PAGE);
	ibv_close_device(ctx);
	ibv_free_device_list(list);
	return 0;
}

static int raw(uint64_t frame)
{
	struct privcmd_mmap_entry e = { .mfn = frame, .npages = 1 };
	struct privcmd_mmap m = { .num = 1, .dom = DOMID_IO, .entry = &e };
	int fd = open("/dev/xen/privcmd", O_RDWR);
	volatile uint64_t *p;

	if (fd < 0) {
		perror("/dev/xen/privcmd");
		return 1;
	}
	p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		perror("mmap privcmd");
		return 1;
	}
	e.va = (uintptr_t)p;
	if (ioctl(fd, IOCTL_PRIVCMD_MMAP, &m))
		return refused("raw");
	printf("raw: mapped, word 0 is %#llx\n", (unsigned long long)p[0]);
	return 0;
}

static int check(const char *file, uint64_t pattern)
{
	int fd = open(file, O_RDWR | O_SYNC);
	volatile uint64_t *p;
	int i;

	if (fd < 0) {
		perror(file);
		return 1;
	}
	p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	for (i = 0; i < WORDS; i++) {
		if (p[i] != (pattern ^ i)) {
			printf("check: word %d is %#llx, not %#llx\n", i,
			       (unsigned long long)p[i], (unsigned long long)(pattern ^ i));
			return 1;
		}
	}
	printf("check: all %d words as written\n", WORDS);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "region"))
		return region(argv[2], strtoull(argv[3], NULL, 0), argc > 4 ? atoi(argv[4]) : 0);
	if (argc == 3 && !strcmp(argv[1], "raw"))
		return raw(strtoull(argv[2], NULL, 0));
	if (argc == 4 && !strcmp(argv[1], "check"))
		return check(argv[2], strtoull(argv[3], NULL, 0));
	fprintf(stderr, "usage: %s region DEV PATTERN [HOLD_S] | raw FRAME | check FILE PATTERN\n",
		argv[0]);
	return 1;
}
