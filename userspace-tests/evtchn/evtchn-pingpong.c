// SPDX-License-Identifier: GPL-2.0
/*
 * xenib-evtchn-pingpong: the cheapest cross-domain round trip there is, an
 * event-channel ping-pong through /dev/xen/evtchn (no shared memory, no
 * libxen), as the unit bench/run measures xib0's overhead in.
 *
 *   echo DOMID [PORT]      bind a port to DOMID: a new unbound one (printed
 *                          as "port N") or, with PORT, DOMID's PORT; send
 *                          every event back
 *   relay DOMID1 DOMID2    two new unbound ports (printed as "ports P1 P2")
 *                          for DOMID1 and DOMID2; forward every event on
 *                          one to the other, as dom0 between two domUs
 *   ping DOMID PORT [N]    bind DOMID's PORT, time N round trips (default
 *                          1000, after 100 unmeasured) and print
 *                          "@evtchn n= median_us= min_us= p99_us= mean_us="
 *
 * echo and relay print "ready" once bound and exit after 30 s without an
 * event. ping gives up (exit 1) if an answer takes 5 s.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

/* include/uapi/xen/evtchn.h */
struct ioctl_evtchn_bind_interdomain {
	unsigned int remote_domain, remote_port;
};

struct ioctl_evtchn_bind_unbound_port {
	unsigned int remote_domain;
};

struct ioctl_evtchn_notify {
	unsigned int port;
};

#define IOCTL_EVTCHN_BIND_INTERDOMAIN \
	_IOC(_IOC_NONE, 'E', 1, sizeof(struct ioctl_evtchn_bind_interdomain))
#define IOCTL_EVTCHN_BIND_UNBOUND_PORT \
	_IOC(_IOC_NONE, 'E', 2, sizeof(struct ioctl_evtchn_bind_unbound_port))
#define IOCTL_EVTCHN_NOTIFY \
	_IOC(_IOC_NONE, 'E', 4, sizeof(struct ioctl_evtchn_notify))

#define WARMUP 100
#define IDLE_MS 30000
#define ANSWER_MS 5000

static int fd;

static void die(const char *what)
{
	fprintf(stderr, "xenib-evtchn-pingpong: %s: %s\n", what, strerror(errno));
	exit(1);
}

static unsigned int bind_unbound(unsigned int domid)
{
	struct ioctl_evtchn_bind_unbound_port b = { .remote_domain = domid };
	int port = ioctl(fd, IOCTL_EVTCHN_BIND_UNBOUND_PORT, &b);

	if (port < 0)
		die("IOCTL_EVTCHN_BIND_UNBOUND_PORT");
	return port;
}

static unsigned int bind_interdomain(unsigned int domid, unsigned int remote)
{
	struct ioctl_evtchn_bind_interdomain b = {
		.remote_domain = domid, .remote_port = remote,
	};
	int port = ioctl(fd, IOCTL_EVTCHN_BIND_INTERDOMAIN, &b);

	if (port < 0)
		die("IOCTL_EVTCHN_BIND_INTERDOMAIN");
	return port;
}

static void notify(unsigned int port)
{
	struct ioctl_evtchn_notify n = { .port = port };

	if (ioctl(fd, IOCTL_EVTCHN_NOTIFY, &n) < 0)
		die("IOCTL_EVTCHN_NOTIFY");
}

/*
 * The next pending local port, or -1 after timeout_ms without one. The
 * driver masks a port when it queues it for read(): the caller unmasks it
 * (unmask()) once it has acted on the event.
 */
static int next_event(int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint32_t port;
	int n;

	do {
		n = poll(&p, 1, timeout_ms);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		die("poll");
	if (n == 0)
		return -1;
	if (read(fd, &port, sizeof(port)) != sizeof(port))
		die("read");
	return port;
}

static void unmask(unsigned int port)
{
	uint32_t p = port;

	if (write(fd, &p, sizeof(p)) != sizeof(p))
		die("write");
}

/* Answers first and unmasks after: the peer's next event cannot come
 * before our answer, and a pending masked event is delivered on unmask. */
static int serve(unsigned int a, unsigned int b)
{
	int port;

	printf("ready\n");
	while ((port = next_event(IDLE_MS)) >= 0) {
		notify((unsigned int)port == a ? b : a);
		unmask(port);
	}
	return 0;
}

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int ping(unsigned int port, int n)
{
	double *rtt = calloc(n, sizeof(*rtt)), sum = 0;
	int i;

	if (!rtt)
		die("calloc");
	/* Xen raises the new local port once on binding (notifications to
	 * the unbound remote end may have been lost): take that one out. */
	while ((i = next_event(200)) >= 0)
		unmask(i);
	for (i = -WARMUP; i < n; i++) {
		double t0 = now_us();
		int got;

		notify(port);
		got = next_event(ANSWER_MS);
		if (got < 0) {
			fprintf(stderr, "xenib-evtchn-pingpong: no answer in %d ms (round trip %d)\n",
				ANSWER_MS, i + WARMUP);
			return 1;
		}
		/* Unmasking is outside the measurement, as xib0's own
		 * handlers re-enable their channel after the work is done. */
		if (i >= 0)
			rtt[i] = now_us() - t0;
		unmask(got);
	}
	for (i = 0; i < n; i++)
		sum += rtt[i];
	qsort(rtt, n, sizeof(*rtt), cmp);
	printf("@evtchn n=%d median_us=%.1f min_us=%.1f p99_us=%.1f mean_us=%.1f\n",
	       n, rtt[n / 2], rtt[0], rtt[(n * 99) / 100], sum / n);
	return 0;
}

static unsigned int arg(const char *s)
{
	char *end;
	unsigned long v = strtoul(s, &end, 0);

	if (!*s || *end || v > 0xffffffffUL) {
		fprintf(stderr, "xenib-evtchn-pingpong: not a number: %s\n", s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	/* The harness reads "port N" while we run on. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	fd = open("/dev/xen/evtchn", O_RDWR);
	if (fd < 0)
		die("/dev/xen/evtchn");
	if (!strcmp(mode, "echo") && (argc == 3 || argc == 4)) {
		unsigned int port;

		if (argc == 4) {
			port = bind_interdomain(arg(argv[2]), arg(argv[3]));
		} else {
			port = bind_unbound(arg(argv[2]));
			printf("port %u\n", port);
		}
		return serve(port, port);
	}
	if (!strcmp(mode, "relay") && argc == 4) {
		unsigned int a = bind_unbound(arg(argv[2]));
		unsigned int b = bind_unbound(arg(argv[3]));

		printf("ports %u %u\n", a, b);
		return serve(a, b);
	}
	if (!strcmp(mode, "ping") && (argc == 4 || argc == 5)) {
		unsigned int port = bind_interdomain(arg(argv[2]), arg(argv[3]));
		int n = argc == 5 ? (int)arg(argv[4]) : 1000;

		if (n < 1)
			n = 1;
		return ping(port, n);
	}
	fprintf(stderr, "usage: xenib-evtchn-pingpong echo DOMID [PORT] | relay DOMID1 DOMID2 | ping DOMID PORT [N]\n");
	return 2;
}
