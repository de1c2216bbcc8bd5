# SPDX-License-Identifier: GPL-2.0
# rmmod ib_front while a process holds objects behaves like removing a
# device: the module goes, the process is cut off, nothing leaks or oopses.
. ./lib.sh
g=$(ipv4_gid_index xib0) || fail "no IPv4 GID on xib0"
hold_objects || fail "no process holding objects"
pid=$held
reload() { insmod /lib/modules/xenib/ib_front.ko; }
timeout 30 rmmod ib_front || fail "rmmod ib_front with a busy device"
trap reload EXIT	# leave the stack up for the tests after this one
[ -d /sys/class/infiniband/xib0 ] && fail "xib0 still there"
for c in objects.contexts objects.mrs objects.mmaps objects.grants objects.frontends; do
	[ "$(back_counter $c)" = 0 ] || fail "after rmmod the backend still holds $c: $(back_counter $c)"
done
kill $pid 2>/dev/null; wait $pid 2>/dev/null
rxe_clean || fail "the real device kept objects"
trap - EXIT
insmod /lib/modules/xenib/ib_front.ko || fail "reloading ib_front"
pair timeout 60 ibv_rc_pingpong -d xib0 -g "$g" -n 10 >/dev/null || fail "xib0 unusable after reload"
