// SPDX-License-Identifier: GPL-2.0
/*
 * An unmodified MPI program for the Xen-mode test: 2 ranks, a ping-pong
 * latency and bandwidth sweep (1 B to 1 MiB) with every received message
 * checked, then an MPI_Allreduce whose result is checked exactly.
 * Exits non-zero (on rank 0) on any mismatch.
 *
 * With --bench [--quick] it is bench/run's MPI benchmark instead (see
 * bench_main): timed loops without per-message work, medians of the
 * iterations, one "@mpi" line per point on rank 0; the data of each
 * point's last iteration is checked after its timed loop.
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SIZE (1 << 20)

static unsigned char pattern(size_t i, int iter, int rank)
{
	return (unsigned char)(i * 31 + iter * 7 + rank * 101);
}

static int check(const unsigned char *buf, size_t len, int iter, int from)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != pattern(i, iter, from))
			return -1;
	return 0;
}

static int bench_main(int rank, int quick);

int main(int argc, char **argv)
{
	int rank, size, errors = 0, total_errors = 0;
	unsigned char *buf;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if (size != 2) {
		if (rank == 0)
			fprintf(stderr, "needs exactly 2 ranks, got %d\n", size);
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	if (argc > 1 && !strcmp(argv[1], "--bench")) {
		errors = bench_main(rank, argc > 2 && !strcmp(argv[2], "--quick"));
		MPI_Finalize();
		return errors ? 1 : 0;
	}
	buf = malloc(MAX_SIZE);
	if (!buf)
		MPI_Abort(MPI_COMM_WORLD, 2);
	if (rank == 0)
		printf("%10s %8s %14s %14s\n", "bytes", "iters", "latency[us]", "bw[MB/s]");
	for (size_t len = 1; len <= MAX_SIZE; len *= 4) {
		int iters = len >= 65536 ? 20 : 100;
		double t0;

		MPI_Barrier(MPI_COMM_WORLD);
		t0 = MPI_Wtime();
		for (int it = 0; it < iters; it++) {
			if (rank == 0) {
				for (size_t i = 0; i < len; i++)
					buf[i] = pattern(i, it, 0);
				MPI_Send(buf, (int)len, MPI_BYTE, 1, it, MPI_COMM_WORLD);
				MPI_Recv(buf, (int)len, MPI_BYTE, 1, it, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
				errors += check(buf, len, it, 1) != 0;
			} else {
				MPI_Recv(buf, (int)len, MPI_BYTE, 0, it, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
				errors += check(buf, len, it, 0) != 0;
				for (size_t i = 0; i < len; i++)
					buf[i] = pattern(i, it, 1);
				MPI_Send(buf, (int)len, MPI_BYTE, 0, it, MPI_COMM_WORLD);
			}
		}
		if (rank == 0) {
			double half_rtt = (MPI_Wtime() - t0) / iters / 2;

			printf("%10zu %8d %14.2f %14.2f\n", len, iters, half_rtt * 1e6,
			       len / half_rtt / 1e6);
		}
	}

	/* Allreduce: element i of rank r is r * 1000003 + i; the sum over two
	 * ranks is 1000003 + 2i, exactly representable. */
	enum { N = 1 << 16 };
	static long in[N], out[N];
	for (long i = 0; i < N; i++)
		in[i] = rank * 1000003L + i;
	MPI_Allreduce(in, out, N, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
	for (long i = 0; i < N; i++)
		if (out[i] != 1000003L + 2 * i) {
			errors++;
			break;
		}
	MPI_Reduce(&errors, &total_errors, 1, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);
	if (rank == 0) {
		printf("allreduce of %d longs: %s\n", N, errors ? "WRONG" : "correct");
		printf("data errors: %d\n", total_errors);
	}
	free(buf);
	MPI_Finalize();
	return rank == 0 && total_errors ? 1 : 0;
}

/*
 * The benchmark (bench/guest.sh runs it natively in dom0 and between the
 * domUs over xib0), as the Xen-IB paper's MPI figures and the OSU
 * micro-benchmarks measure:
 *   latency    ping-pong, half the round trip of each iteration;
 *   bandwidth  osu_bw: rank 0 posts a window of MPI_Isend, rank 1 the
 *              matching MPI_Irecv, then a 1-byte reply; bytes of the
 *              window over the time of the iteration;
 *   allreduce  MPI_SUM of longs, each iteration after a barrier.
 * Each point: unmeasured warm-up iterations, then timed ones, each timed
 * on its own; rank 0 prints the median and the fastest. Nothing but the
 * communication is in the timed loops: the send buffer is filled once,
 * only its first element changes per iteration (so the data received in
 * the last iteration is known), and it is checked after the loop.
 * Output, rank 0:
 *   @mpi test=mpi-latency size=BYTES iters=N status=ok|corrupt mpi_lat_us=M mpi_lat_min_us=F
 *   @mpi test=mpi-bandwidth size=BYTES iters=N window=W status=... mpi_bw=MB/s
 *   @mpi test=mpi-allreduce size=BYTES iters=N status=... mpi_allreduce_us=M mpi_allreduce_min_us=F
 * Returns the number of corrupt points (the same on both ranks).
 */
#define BW_WINDOW 32

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *t, int n)
{
	qsort(t, (size_t)n, sizeof(*t), cmp_double);
	return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

/* Both ranks' verdict on one point: corrupt if either saw bad data. */
static const char *verdict(int bad, int *corrupt)
{
	int any;

	MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
	*corrupt += any != 0;
	return any ? "corrupt" : "ok";
}

/* The received message: peer's pattern, its first byte the stamp of the
 * last iteration. */
static int check_last(const unsigned char *buf, size_t len, int last, int from)
{
	if (buf[0] != (unsigned char)last)
		return -1;
	for (size_t i = 1; i < len; i++)
		if (buf[i] != pattern(i, 0, from))
			return -1;
	return 0;
}

static int bench_main(int rank, int quick)
{
	int peer = !rank, corrupt = 0;
	size_t max = quick ? (1 << 16) : MAX_SIZE;
	unsigned char *sbuf = malloc(MAX_SIZE), *rbuf = malloc(MAX_SIZE);
	double *t = malloc(1000 * sizeof(*t));

	if (!sbuf || !rbuf || !t)
		MPI_Abort(MPI_COMM_WORLD, 2);
	for (size_t i = 0; i < MAX_SIZE; i++)
		sbuf[i] = pattern(i, 0, rank);

	/* Latency: 1 B .. 1 MiB, powers of 4. */
	for (size_t len = 1; len <= max; len *= 4) {
		int iters = len <= 4096 ? 200 : len <= 16384 ? 100 : len <= 65536 ? 50 : len <= 262144 ? 20 : 10;
		int warm = iters / 10 + 2;

		if (quick)
			iters /= 4;
		memset(rbuf, 0, len);
		MPI_Barrier(MPI_COMM_WORLD);
		for (int it = -warm; it < iters; it++) {
			double t0 = MPI_Wtime();

			sbuf[0] = (unsigned char)it;
			if (rank == 0) {
				MPI_Send(sbuf, (int)len, MPI_BYTE, 1, 1, MPI_COMM_WORLD);
				MPI_Recv(rbuf, (int)len, MPI_BYTE, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
			} else {
				MPI_Recv(rbuf, (int)len, MPI_BYTE, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
				MPI_Send(sbuf, (int)len, MPI_BYTE, 0, 1, MPI_COMM_WORLD);
			}
			if (it >= 0)
				t[it] = (MPI_Wtime() - t0) / 2 * 1e6;
		}
		const char *st = verdict(check_last(rbuf, len, iters - 1, peer) != 0, &corrupt);
		if (rank == 0) {
			double m = median(t, iters);

			printf("@mpi test=mpi-latency size=%zu iters=%d status=%s mpi_lat_us=%.2f mpi_lat_min_us=%.2f\n",
			       len, iters, st, m, t[0]);
			fflush(stdout);
		}
	}

	/* Bandwidth: a window of non-blocking sends per iteration. */
	for (size_t len = 1; len <= max; len *= 4) {
		MPI_Request req[BW_WINDOW];
		size_t per = (size_t)BW_WINDOW * len;
		int iters = per >= (4u << 20) ? 5 : per >= (1u << 20) ? 10 : 30;
		int warm = 2;
		char ack = 0;

		if (quick)
			iters = iters / 3 + 1;
		memset(rbuf, 0, len);
		MPI_Barrier(MPI_COMM_WORLD);
		for (int it = -warm; it < iters; it++) {
			double t0 = MPI_Wtime();

			sbuf[0] = (unsigned char)it;
			for (int w = 0; w < BW_WINDOW; w++) {
				if (rank == 0)
					MPI_Isend(sbuf, (int)len, MPI_BYTE, 1, 2, MPI_COMM_WORLD, &req[w]);
				else
					MPI_Irecv(rbuf, (int)len, MPI_BYTE, 0, 2, MPI_COMM_WORLD, &req[w]);
			}
			MPI_Waitall(BW_WINDOW, req, MPI_STATUSES_IGNORE);
			if (rank == 0)
				MPI_Recv(&ack, 1, MPI_BYTE, 1, 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
			else
				MPI_Send(&ack, 1, MPI_BYTE, 0, 3, MPI_COMM_WORLD);
			if (it >= 0)
				t[it] = per / (MPI_Wtime() - t0) / 1e6;
		}
		/* Only rank 1 received data; rank 0 has nothing to check. */
		const char *st = verdict(rank == 1 && check_last(rbuf, len, iters - 1, 0) != 0, &corrupt);
		if (rank == 0) {
			printf("@mpi test=mpi-bandwidth size=%zu iters=%d window=%d status=%s mpi_bw=%.6g\n",
			       len, iters, BW_WINDOW, st, median(t, iters));
			fflush(stdout);
		}
	}

	/* Allreduce of longs: element i of rank r is r * 1000003 + i, element
	 * 0 also the iteration, so the last result is known exactly. */
	static const size_t counts[] = { 1, 128, 8192, 131072 };
	long *in = (long *)(void *)sbuf, *out = (long *)(void *)rbuf;

	for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		size_t n = counts[c];
		int iters = n <= 128 ? 100 : n <= 8192 ? 40 : 10, warm = iters / 10 + 2, bad = 0;

		if (quick && n > 8192)
			break;
		if (quick)
			iters /= 4;
		for (size_t i = 0; i < n; i++)
			in[i] = rank * 1000003L + (long)i;
		for (int it = -warm; it < iters; it++) {
			in[0] = rank * 1000003L + it;
			MPI_Barrier(MPI_COMM_WORLD);
			double t0 = MPI_Wtime();

			MPI_Allreduce(in, out, (int)n, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
			if (it >= 0)
				t[it] = (MPI_Wtime() - t0) * 1e6;
		}
		bad = out[0] != 1000003L + 2L * (iters - 1);
		for (size_t i = 1; i < n && !bad; i++)
			bad = out[i] != 1000003L + 2L * (long)i;
		const char *st = verdict(bad, &corrupt);
		if (rank == 0) {
			double m = median(t, iters);

			printf("@mpi test=mpi-allreduce size=%zu iters=%d status=%s mpi_allreduce_us=%.2f mpi_allreduce_min_us=%.2f\n",
			       n * sizeof(long), iters, st, m, t[0]);
			fflush(stdout);
		}
	}
	free(t);
	free(rbuf);
	free(sbuf);
	return corrupt;
}
