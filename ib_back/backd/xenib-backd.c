// SPDX-License-Identifier: GPL-2.0
/*
 * xenib-backd: lends a process context to ib_back.
 *
 * It finds the uverbs device of the RDMA device ib_back is bound to and
 * calls XENIB_BACK_SERVE; the kernel serves every frontend from inside
 * that call, until the process gets SIGTERM or SIGINT.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "../uapi.h"

static int read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	if (!f || !fgets(buf, len, f)) {
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

static int find_uverbs(const char *ibdev, char *path, size_t len)
{
	DIR *d = opendir("/sys/class/infiniband_verbs");
	struct dirent *e;
	char p[512], name[64];

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "uverbs", 6) || strlen(e->d_name) > 32)
			continue;
		snprintf(p, sizeof(p), "/sys/class/infiniband_verbs/%s/ibdev", e->d_name);
		if (read_line(p, name, sizeof(name)) == 0 && !strcmp(name, ibdev)) {
			snprintf(path, len, "/dev/infiniband/%.32s", e->d_name);
			closedir(d);
			return 0;
		}
	}
	closedir(d);
	return -1;
}

static void on_signal(int sig)
{
	(void)sig;	/* only interrupts the ioctl */
}

int main(void)
{
	struct xenib_back_serve req = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	char ibdev[64];
	int fd;

	if (read_line("/sys/module/ib_back/parameters/dev", ibdev, sizeof(ibdev))) {
		fprintf(stderr, "xenib-backd: ib_back is not loaded\n");
		return 1;
	}
	if (find_uverbs(ibdev, req.uverbs_path, sizeof(req.uverbs_path))) {
		fprintf(stderr, "xenib-backd: no uverbs device for %s\n", ibdev);
		return 1;
	}
	fd = open("/dev/xenib_back", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		perror("xenib-backd: /dev/xenib_back");
		return 1;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (ioctl(fd, XENIB_BACK_SERVE, &req) && errno != EINTR) {
		perror("xenib-backd: XENIB_BACK_SERVE");
		return 1;
	}
	return 0;
}
