# SPDX-License-Identifier: GPL-2.0
# Our modules load, show up in sysfs, unload and load again cleanly, and
# the backend's counters return to zero.
. ./lib.sh
for m in ib_back ib_front; do
	[ -d /sys/module/$m ] || fail "$m not loaded by init"
done
[ -d /sys/class/infiniband/xib0 ] || fail "xib0 not registered"
xenib_down || fail "unloading"
for m in ib_back ib_front; do
	[ -d /sys/module/$m ] && fail "$m still present after rmmod"
done
[ -d /sys/class/infiniband/xib0 ] && fail "xib0 still registered"
# Without its service daemon the backend cannot answer: the frontend
# gives up with a clear error instead of hanging insmod.
insmod /lib/modules/xenib/ib_back.ko dev=rxe0 || fail "loading ib_back alone"
insmod /lib/modules/xenib/ib_front.ko 2>/dev/null && fail "ib_front loaded without a serving backend"
dmesg | grep -q "is xenib-backd running" || fail "no clear error for a backend without service"
[ "$(back_counter objects.frontends)" = 0 ] || fail "the failed frontend is still connected"
rmmod ib_back || fail "unloading ib_back after the failed frontend"
xenib_up || fail "reloading"
grep -q rxe0 /sys/module/ib_back/parameters/dev || fail "dev parameter not rxe0"
[ "$(back_counter objects.frontends)" = 1 ] || fail "backend does not count one frontend"
[ "$(back_counter objects.contexts)" = 0 ] || fail "backend has contexts with no user"
echo "modules load, unload and reload; xib0 comes and goes with them"
