#!/bin/sh
# test-timeout: 1500
# rdma_cm in the domUs: unmodified librdmacm programs between domu1
# (10.0.4.11) and domu2 (10.0.4.12), each on its own RDMA address, their
# /dev/infiniband/rdma_cm forwarded to dom0's rdma_cm (ib_front/cm.rs,
# ib_back/cm.rs). rping with data validation (also against a wildcard
# server), ucmatose (also migrating its ids), udaddy (UD), rdma_server/
# rdma_client, rstream (rsockets) and 200 connections of cmtime; Open MPI
# and fi_pingpong over libfabric's verbs;ofi_rxm; a domU with a native
# rping on dom0's rxe0. A guest cannot bind, resolve from or
# listen on another guest's or dom0's address (the wildcard and loopback
# are its own), nor advertise a QP number that is not its own, and the
# other guest's connection keeps working meanwhile. Killing a CM program, and detaching the domU, leave no
# cm_id of that guest in dom0.
. ./lib.sh
A1=10.0.4.11 A2=10.0.4.12
trap 'for d in domu1 domu2; do xenib-attach detach $d; XENIB_ATTACH_WAIT=30 xenib-attach attach $d; done' EXIT
attach_as domu1 --rdma-ip $A1/24
attach_as domu2 --rdma-ip $A2/24
xrun domu1 "ip addr add $A1/24 dev xibgid0" || fail "domu1: address on xibgid0"
xrun domu2 "ip addr add $A2/24 dev xibgid0" || fail "domu2: address on xibgid0"
[ -c /dev/infiniband/rdma_cm ] || fail "dom0 has no rdma_cm (rdma_ucm)"
xrun domu1 '[ -c /dev/infiniband/rdma_cm ] && [ "$(cat /sys/class/misc/rdma_cm/abi_version)" = 4 ]' ||
	fail "domu1 has no forwarded /dev/infiniband/rdma_cm"

# cm_ids dom0 holds for ADDR.
cm_ids() { rdma resource show cm_id 2>/dev/null | grep -c "$1:" ; }

# Runs SERVER in domu2 and then CLIENT in domu1 (shell command lines);
# both must succeed.
cm_pair() { # NAME SERVER CLIENT
	xrun domu2 "$2" >/tmp/cm-server.out 2>&1 &
	spid=$!
	sleep 3
	xrun domu1 "$3" >/tmp/cm-client.out 2>&1
	crc=$?
	wait $spid
	src=$?
	[ $crc = 0 ] && [ $src = 0 ] && { echo "ok: $1"; return 0; }
	echo "$1: client $crc, server $src"
	echo "--- server"; cat /tmp/cm-server.out; echo "--- client"; cat /tmp/cm-client.out
	return 1
}

cm_pair "rping -V, 1000 iterations" \
	"timeout 300 rping -s -a $A2 -p 7174 -C 1000 -V -S 100" \
	"timeout 300 rping -c -a $A2 -p 7174 -C 1000 -V -S 100" || fail "rping"
cm_pair "rping against a wildcard server" \
	"timeout 120 rping -s -a 0.0.0.0 -p 7175 -C 50 -V" \
	"timeout 120 rping -c -a $A2 -p 7175 -C 50 -V" || fail "rping, wildcard server"
cm_pair "ucmatose" "timeout 120 ucmatose -b $A2" "timeout 120 ucmatose -s $A2" || fail "ucmatose"
cm_pair "ucmatose -m (migrate)" "timeout 120 ucmatose -b $A2 -m" "timeout 120 ucmatose -s $A2 -m" ||
	fail "ucmatose -m"
cm_pair "udaddy" "timeout 120 udaddy -b $A2" "timeout 120 udaddy -s $A2" || fail "udaddy"
cm_pair "rdma_server/rdma_client" "timeout 120 rdma_server -s $A2 -p 7471" \
	"timeout 120 rdma_client -s $A2 -p 7471" || fail "rdma_server/rdma_client"
cm_pair "rstream (rsockets)" "timeout 300 rstream -b $A2 -S 65536 -C 100" \
	"timeout 300 rstream -s $A2 -S 65536 -C 100" || fail "rstream"
# cmtime's server serves until it is stopped.
xrun domu2 "timeout 300 cmtime -b $A2 -c 200" >/tmp/cm-server.out 2>&1 &
spid=$!
sleep 3
xrun domu1 "timeout 300 cmtime -s $A2 -c 200" >/tmp/cm-client.out 2>&1 ||
	fail "cmtime, 200 connections: $(cat /tmp/cm-client.out)"
xrun domu2 'kill $(pidof cmtime)'
wait $spid
grep -q "^connect *:" /tmp/cm-client.out || fail "cmtime printed no connect times: $(cat /tmp/cm-client.out)"
echo "ok: cmtime, 200 connections"

# Unmodified MPI over rdma_cm, UCX off: Open MPI's OFI MTL over
# libfabric's verbs provider under RxM, whose connections are rdma_cm's
# (Debian's openib BTL has only its UD-based CPC, not rdmacm). The
# project's ping-pong sweep and allreduce, checked. RxM sizes its
# completion queues for FI_UNIVERSE_SIZE peers (256 by default), beyond
# what rxe accepts (rxe_create_cq: EINVAL); two ranks need few.
FI="FI_VERBS_IFACE=xibgid0 FI_UNIVERSE_SIZE=16"
qps=$(back_counter requests.CreateQp)
xrun domu1 "export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 $FI; \
	timeout 600 mpirun -np 2 --host $(ip_of domu1),$(ip_of domu2) \
	--mca plm_rsh_agent /xenib/xen/xrsh --mca oob_tcp_if_include eth0 \
	--mca pml cm --mca mtl ofi --mca mtl_ofi_provider_include 'verbs;ofi_rxm' \
	--mca osc ^ucx --mca btl self -x FI_VERBS_IFACE -x FI_UNIVERSE_SIZE \
	/xenib/xenib-mpi-pingpong" >/tmp/mpi.out 2>&1 || fail "mpirun over libfabric verbs;ofi_rxm: $(cat /tmp/mpi.out)"
[ $(($(back_counter requests.CreateQp) - qps)) -ge 2 ] || fail "MPI created no QPs on xib0"
grep -q "allreduce of 65536 longs: correct" /tmp/mpi.out || fail "MPI: allreduce wrong: $(cat /tmp/mpi.out)"
grep -q "^data errors: 0$" /tmp/mpi.out || fail "MPI: ping-pong data corrupted"
grep -q "^ *1048576 " /tmp/mpi.out || fail "MPI: sweep incomplete"
echo "ok: Open MPI over rdma_cm (OFI MTL, verbs;ofi_rxm)"
cm_pair "fi_pingpong verbs;ofi_rxm" \
	"$FI timeout 120 fi_pingpong -p 'verbs;ofi_rxm' -e rdm -d xib0 -c -I 100" \
	"$FI timeout 120 fi_pingpong -p 'verbs;ofi_rxm' -e rdm -d xib0 -c -I 100 $(ip_of domu2)" ||
	fail "fi_pingpong"

# A domU and a native process on dom0's rxe0.
timeout 120 rping -s -a 10.0.3.1 -p 7176 -C 100 -V >/tmp/dom0-rping.out 2>&1 &
spid=$!
sleep 2
xrun domu1 "timeout 120 rping -c -a 10.0.3.1 -p 7176 -C 100 -V" || fail "domu1 -> dom0 rping"
wait $spid || fail "dom0's rping server: $(cat /tmp/dom0-rping.out)"
echo "ok: domu1 with a native rping on dom0"

# Isolation, while domu2's rping server keeps serving domu1's client.
xrun domu2 "timeout 300 rping -s -a $A2 -p 7177 -C 400 -V" >/tmp/cm-server.out 2>&1 &
spid=$!
sleep 3
xrun domu1 "timeout 300 rping -c -a $A2 -p 7177 -C 400 -V" >/tmp/cm-client.out 2>&1 &
cpid=$!
probe() { # DOMAIN ARGS... : the probe's line
	xrun "$1" "/xenib/xenib-cm-probe $(shift; echo "$*")"
}
for a in $A2 10.0.3.1; do
	out=$(probe domu1 bind $a)
	[ "$out" = "bind: errno 99 (Cannot assign requested address)" ] || fail "domu1 bound $a: $out"
done
out=$(probe domu1 resolve $A2 $A2)
[ "$out" = "resolve: errno 99 (Cannot assign requested address)" ] || fail "domu1 resolved from $A2: $out"
out=$(probe domu1 resolve 10.0.3.1 $A2)
[ "$out" = "resolve: errno 99 (Cannot assign requested address)" ] || fail "domu1 resolved from dom0's address: $out"
out=$(probe domu1 listen)
[ "$out" = "listen: ok $A1" ] || fail "an unbound listen in domu1 should be bound to $A1: $out"
qpn=$(xrun domu2 "rdma resource show qp" | awk '/comm rping/ { for (i = 1; i < NF; i++) if ($i == "lqpn") print $(i + 1) }' | head -1)
[ -n "$qpn" ] || fail "no QP of domu2's rping: $(xrun domu2 'rdma resource show qp')"
# The backend's log lines share one rate limit (10 in 5 s): a fresh
# window, so that the line checked below is not dropped.
sleep 5
out=$(probe domu1 connect $A2 7177 "$qpn")
[ "$out" = "connect: errno 1 (Operation not permitted)" ] || fail "domu1 advertised QP $qpn: $out"
dmesg | grep -q "domain $(xl domid domu1): rdma_cm refused QP number" || fail "no log line for the foreign QP: $(dmesg | tail -5)"
wait $cpid || fail "domu1's rping client while it was probed: $(cat /tmp/cm-client.out)"
wait $spid || fail "domu2's rping server while domu1 was probed: $(cat /tmp/cm-server.out)"
echo "ok: isolation, and domu2's connection kept working"

# The guest's quota of rdma_cm ids (max_cm_ids): the probe holds one,
# makes 2 more, and the next gets EDQUOT.
P=/sys/module/ib_back/parameters
old_ids=$(cat $P/max_cm_ids)
echo 3 >$P/max_cm_ids
sleep 5
out=$(probe domu1 ids 10)
echo "$old_ids" >$P/max_cm_ids
[ "$out" = "ids: created 2 errno 122 (Disk quota exceeded)" ] || fail "max_cm_ids 3: $out"
dmesg | grep -q "domain $(xl domid domu1): its quota of 3 rdma_cm ids is used up" || fail "no log line for the id quota: $(dmesg | tail -5)"
out=$(probe domu1 ids 10)
[ "$out" = "ids: created 10" ] || fail "ids not given back when the probe exited: $out"
echo "ok: quota of rdma_cm ids"

# Clean-up: kill -9 of a listening CM program; detach.
xrun domu2 "rping -s -a $A2 -p 7178 >/dev/null 2>&1 & echo \$! >/tmp/rping.pid" || fail "background rping"
wait_for "[ \$(cm_ids $A2) -ge 1 ]" 20 || fail "dom0 shows no cm_id for domu2's listener"
xrun domu2 'kill -9 $(cat /tmp/rping.pid)'
wait_for "[ \$(cm_ids $A2) = 0 ]" 20 || fail "cm_ids of domu2 left after kill -9: $(rdma resource show cm_id)"
xrun domu1 "rping -s -a $A1 -p 7179 >/dev/null 2>&1 &" || fail "background rping in domu1"
wait_for "[ \$(cm_ids $A1) -ge 1 ]" 20 || fail "dom0 shows no cm_id for domu1's listener"
xenib-attach detach domu1 || fail "detach domu1"
wait_for "[ \$(cm_ids $A1) = 0 ]" 20 || fail "cm_ids of domu1 left after detach: $(rdma resource show cm_id)"
[ "$(back_counter objects.cm_files)" = 0 ] || fail "backend still counts cm files: $(cat /dev/xenib_back)"
echo "ok: no cm_id left after kill -9 and after detach"
trap - EXIT
# Back as the other tests expect them: attached, without addresses.
XENIB_ATTACH_WAIT=30 xenib-attach attach domu1 && xib0 domu1 up || fail "attach domu1 again"
attach_as domu2
