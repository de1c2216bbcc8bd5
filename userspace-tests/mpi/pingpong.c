// SPDX-License-Identifier: GPL-2.0
/*
 * An unmodified MPI program for the Xen-mode test: 2 ranks, a ping-pong
 * latency and bandwidth sweep (1 B to 1 MiB) with every received message
 * checked, then an MPI_Allreduce whose result is checked exactly.
 * Exits non-zero (on rank 0) on any mismatch.
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
