# SPDX-License-Identifier: GPL-2.0
# rmmod ib_back under a connected frontend whose process holds objects
# (after stopping xenib-backd, which keeps ib_back loaded): the guest sees
# its device removed, as with an unplugged HCA; the process is cut off;
# nothing leaks on the real device; ib_front stays loaded and unloads
# cleanly; the stack comes back up.
. ./lib.sh
g=$(ipv4_gid_index xib0) || fail "no IPv4 GID on xib0"
hold_objects || fail "no process holding objects"
pid=$held
stop_backd
timeout 40 rmmod ib_back || fail "rmmod ib_back with a connected frontend"
xib0_gone || fail "xib0 still registered after ib_back went"
kill $pid 2>/dev/null; wait $pid 2>/dev/null
rxe_clean || fail "the real device kept objects"
timeout 20 rmmod ib_front || fail "rmmod ib_front after its backend went"
xenib_up || fail "reloading the stack"
pair timeout 60 ibv_rc_pingpong -d xib0 -g "$g" -n 10 >/dev/null || fail "xib0 unusable after reload"
