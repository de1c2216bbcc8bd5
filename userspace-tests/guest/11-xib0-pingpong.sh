# SPDX-License-Identifier: GPL-2.0
# Unmodified rdma-core example programs over xib0: RC, UC, UD and SRQ
# ping-pong, each exchanging and checking data; afterwards the backend
# holds nothing.
. ./lib.sh
g=$(ipv4_gid_index xib0) || fail "no IPv4 GID on xib0"
for prog in ibv_rc_pingpong ibv_uc_pingpong ibv_ud_pingpong ibv_srq_pingpong; do
	echo "== $prog"
	pair timeout 60 $prog -d xib0 -g "$g" -n 50 -c || fail "$prog over xib0"
	grep -q "50 iters" /tmp/client.out || fail "$prog: client did not complete 50 iterations"
done
echo "== ibv_rc_pingpong with completion events (-e)"
pair timeout 60 ibv_rc_pingpong -d xib0 -g "$g" -n 50 -e -c || fail "ibv_rc_pingpong -e over xib0"
grep -q "50 iters" /tmp/client.out || fail "event-driven pingpong did not complete"
for c in objects.contexts objects.mrs objects.mmaps objects.grants; do
	[ "$(back_counter $c)" = 0 ] || fail "backend still holds $c: $(back_counter $c)"
done
rxe_clean || fail "the real device kept objects"
