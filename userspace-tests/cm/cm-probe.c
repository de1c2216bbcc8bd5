// SPDX-License-Identifier: GPL-2.0
/*
 * xenib-cm-probe: single rdma_cm calls whose exact outcome the Xen-mode
 * tests check (userspace-tests/xen/19-rdma-cm.sh). Each prints one line,
 * "<call>: ok <detail>" or "<call>: errno <N> (<text>)", and exits 0 if
 * the call succeeded, 1 if it failed, 2 on a usage or setup error.
 *
 *   bind ADDR             rdma_bind_addr(ADDR, port 0)
 *   resolve SRC DST       rdma_resolve_addr(SRC, DST) and its event
 *   listen                rdma_listen() on an unbound id; prints the
 *                         address it was bound to
 *   connect DST PORT QPN  resolve DST, its route, then rdma_connect()
 *                         advertising QP number QPN (no QP of ours)
 *   ids N                 up to N more ids; "ids: created K errno E (..)"
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <rdma/rdma_cma.h>

static struct rdma_event_channel *ch;
static struct rdma_cm_id *id;

static int result(const char *call, int ret, const char *detail)
{
	if (ret) {
		int e = errno;

		printf("%s: errno %d (%s)\n", call, e, strerror(e));
		return 1;
	}
	printf("%s: ok %s\n", call, detail ? detail : "");
	return 0;
}

static int addr(const char *text, unsigned short port, struct sockaddr_in *sin)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	return inet_pton(AF_INET, text, &sin->sin_addr) == 1 ? 0 : -1;
}

/* Waits for the next event; it must be @want. */
static int expect(enum rdma_cm_event_type want)
{
	struct rdma_cm_event *ev;
	int got, status;

	if (rdma_get_cm_event(ch, &ev))
		return -1;
	got = ev->event;
	status = ev->status;
	rdma_ack_cm_event(ev);
	if (got != (int)want) {
		fprintf(stderr, "event %s (status %d), wanted %s\n", rdma_event_str(got),
			status, rdma_event_str(want));
		errno = status < 0 ? -status : EPROTO;
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a, b;
	char text[64];
	int ret;

	if (argc < 2)
		goto usage;
	ch = rdma_create_event_channel();
	if (!ch || rdma_create_id(ch, &id, NULL, RDMA_PS_TCP)) {
		perror("rdma_cm setup");
		return 2;
	}
	if (!strcmp(argv[1], "bind") && argc == 3) {
		if (addr(argv[2], 0, &a))
			goto usage;
		return result("bind", rdma_bind_addr(id, (struct sockaddr *)&a), argv[2]);
	}
	if (!strcmp(argv[1], "resolve") && argc == 4) {
		if (addr(argv[2], 0, &a) || addr(argv[3], 7470, &b))
			goto usage;
		ret = rdma_resolve_addr(id, (struct sockaddr *)&a, (struct sockaddr *)&b, 5000);
		if (!ret)
			ret = expect(RDMA_CM_EVENT_ADDR_RESOLVED);
		return result("resolve", ret, argv[2]);
	}
	if (!strcmp(argv[1], "listen") && argc == 2) {
		ret = rdma_listen(id, 1);
		if (!ret) {
			struct sockaddr_in *l = (struct sockaddr_in *)rdma_get_local_addr(id);

			inet_ntop(AF_INET, &l->sin_addr, text, sizeof(text));
		}
		return result("listen", ret, text);
	}
	if (!strcmp(argv[1], "connect") && argc == 5) {
		struct rdma_conn_param p = { .retry_count = 1 };

		if (addr(argv[2], atoi(argv[3]), &b))
			goto usage;
		p.qp_num = strtoul(argv[4], NULL, 0);
		if (rdma_resolve_addr(id, NULL, (struct sockaddr *)&b, 5000) ||
		    expect(RDMA_CM_EVENT_ADDR_RESOLVED) || rdma_resolve_route(id, 5000) ||
		    expect(RDMA_CM_EVENT_ROUTE_RESOLVED)) {
			perror("resolving");
			return 2;
		}
		return result("connect", rdma_connect(id, &p), argv[4]);
	}
	if (!strcmp(argv[1], "ids") && argc == 3) {
		struct rdma_cm_id *more;
		int n = atoi(argv[2]), k = 0;

		while (k < n && !rdma_create_id(ch, &more, NULL, RDMA_PS_TCP))
			k++;
		if (k == n) {
			printf("ids: created %d\n", k);
			return 0;
		}
		printf("ids: created %d errno %d (%s)\n", k, errno, strerror(errno));
		return 1;
	}
usage:
	fprintf(stderr, "usage: xenib-cm-probe bind ADDR | resolve SRC DST | listen | connect DST PORT QPN | ids N\n");
	return 2;
}
