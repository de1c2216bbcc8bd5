#!/bin/sh
# Unmodified ibv_*_pingpong between the two domUs, over xib0, with the
# received data checked (-c).
. ./lib.sh
xpair ibv_rc_pingpong -d xib0 -g $GID -n 200 -c || fail "ibv_rc_pingpong"
grep -q "200 iters" /tmp/client.out || fail "rc: no iteration count"
xpair ibv_ud_pingpong -d xib0 -g $GID -n 200 -c -s 1024 || fail "ibv_ud_pingpong"
xpair ibv_rc_pingpong -d xib0 -g $GID -n 50 -c -e || fail "ibv_rc_pingpong -e (completion events)"
