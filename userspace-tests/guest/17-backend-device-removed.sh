# SPDX-License-Identifier: GPL-2.0
# Backend loss: the real device under ib_back goes away (as a hot-unplugged
# HCA: `rdma link delete rxe0`) while a process holds objects on xib0.
# xib0 is removed like a real device, the process is cut off, the backend
# releases everything, and after the device returns, reloading the stack
# works again. Runs last: it tears down what the other tests use.
. ./lib.sh
g=$(ipv4_gid_index xib0) || fail "no IPv4 GID on xib0"
hold_objects || fail "no process holding objects"
pid=$held
rdma link delete rxe0 || fail "rdma link delete rxe0"
xib0_gone || fail "xib0 still registered after its backend device went away"
kill $pid 2>/dev/null; wait $pid 2>/dev/null
for c in objects.contexts objects.mrs objects.mmaps objects.grants; do
	[ "$(back_counter $c)" = 0 ] || fail "backend still holds $c: $(back_counter $c)"
done
xenib_down || fail "unloading after the removal"
rdma link add rxe0 type rxe netdev eth0 || fail "re-creating rxe0"
xenib_up || fail "reloading the stack"
pair timeout 60 ibv_rc_pingpong -d xib0 -g "$g" -n 10 >/dev/null || fail "xib0 unusable after the device came back"
