# SPDX-License-Identifier: GPL-2.0
# rmmod ib_front while a process maps xib0's queues fails cleanly (EBUSY:
# the mappings use the module's code) and disturbs nothing; once the
# process is gone, rmmod works, nothing leaks or oopses, and a reloaded
# ib_front serves again.
. ./lib.sh
g=$(ipv4_gid_index xib0) || fail "no IPv4 GID on xib0"
hold_objects || fail "no process holding objects"
pid=$held
grep -q "xenib-queue" /proc/$pid/maps || fail "the process maps no queue of xib0"
reload() { kill $pid 2>/dev/null; [ -d /sys/module/ib_front ] || insmod /lib/modules/xenib/ib_front.ko; }
trap reload EXIT	# leave the stack up for the tests after this one
out=$(timeout 30 rmmod ib_front 2>&1) && fail "rmmod ib_front succeeded while a process maps its queues"
echo "$out" | grep -qi "in use\|busy\|temporarily unavailable" || fail "rmmod ib_front: unexpected error: $out"
[ -d /sys/class/infiniband/xib0 ] || fail "xib0 gone after a refused rmmod"
kill -0 $pid || fail "the process holding objects died"
kill $pid 2>/dev/null; wait $pid 2>/dev/null
timeout 30 rmmod ib_front || fail "rmmod ib_front once the process is gone"
[ -d /sys/class/infiniband/xib0 ] && fail "xib0 still there"
all_released
[ "$(back_counter objects.frontends)" = 0 ] || fail "the backend still holds the frontend"
trap - EXIT
insmod /lib/modules/xenib/ib_front.ko || fail "reloading ib_front"
pair timeout 60 ibv_rc_pingpong -d xib0 -g "$g" -n 10 >/dev/null || fail "xib0 unusable after reload"
