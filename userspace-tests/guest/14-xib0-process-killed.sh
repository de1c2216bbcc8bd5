# SPDX-License-Identifier: GPL-2.0
# A process killed while it holds RDMA objects on xib0 leaves nothing
# behind in the backend.
. ./lib.sh
g=$(ipv4_gid_index xib0) || fail "no IPv4 GID on xib0"
ibv_rc_pingpong -d xib0 -g "$g" >/dev/null 2>&1 &   # waits for a client, holding objects
pid=$!
sleep 1
[ "$(back_counter objects.contexts)" -ge 1 ] || fail "server holds no context"
[ "$(back_counter objects.mrs)" -ge 1 ] || fail "server holds no MR"
[ "$(back_counter objects.mmaps)" -ge 1 ] || fail "server has no queue mapped"
kill -9 $pid; wait $pid 2>/dev/null
sleep 0.5
for c in objects.contexts objects.mrs objects.mmaps objects.grants; do
	[ "$(back_counter $c)" = 0 ] || fail "after kill -9 the backend still holds $c: $(back_counter $c)"
done
rxe_clean || fail "the real device kept objects"
