#!/bin/sh
# An unmodified MPI program (userspace-tests/mpi/pingpong.c, built with
# Debian's Open MPI) runs 2 ranks, one per domU, over xib0: Open MPI's UCX
# PML (rc_verbs/ud_verbs over the paravirtual device; the openib BTL
# needs rdma_cm on RoCE, which the guests lack). A ping-pong sweep with
# every message checked, then an MPI_Allreduce checked exactly. The
# backend's counters show that the traffic went through xib0.
. ./lib.sh
[ -x /xenib/xenib-mpi-pingpong ] || skip "no MPI program in the image"
qps=$(back_counter requests.CreateQp) mrs=$(back_counter requests.RegMr)
db=$(back_counter doorbells)
for attempt in 1 2 3; do
	xrun domu1 "export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
		UCX_NET_DEVICES=xib0:1 UCX_IB_GID_INDEX=$GID UCX_TLS=rc_verbs,ud_verbs,self \
		UCX_WARN_UNUSED_ENV_VARS=n; \
		timeout 400 mpirun -np 2 --host $(ip_of domu1),$(ip_of domu2) \
		--mca plm_rsh_agent /xenib/xen/xrsh --mca pml ucx --mca btl self \
		--mca oob_tcp_if_include eth0 --mca osc ^ucx \
		-x UCX_NET_DEVICES -x UCX_IB_GID_INDEX -x UCX_TLS -x UCX_WARN_UNUSED_ENV_VARS \
		/xenib/xenib-mpi-pingpong" >/tmp/mpi.out 2>&1
	rc=$?
	cat /tmp/mpi.out
	[ $rc -eq 0 ] && break
	grep -q -E "signal|Segmentation" /tmp/mpi.out || break
done
[ $rc -eq 0 ] || fail "mpirun exited $rc"
grep -q "allreduce of 65536 longs: correct" /tmp/mpi.out || fail "allreduce result wrong"
grep -q "^data errors: 0$" /tmp/mpi.out || fail "ping-pong data corrupted"
grep -q "^ *1048576 " /tmp/mpi.out || fail "sweep incomplete"
echo "through xib0: QPs created $(($(back_counter requests.CreateQp) - qps)), MRs registered $(($(back_counter requests.RegMr) - mrs)), doorbells $(($(back_counter doorbells) - db))"
[ $(($(back_counter requests.CreateQp) - qps)) -ge 2 ] || fail "MPI created no QPs on xib0"
[ $(($(back_counter doorbells) - db)) -ge 100 ] || fail "MPI rang few doorbells on xib0"
