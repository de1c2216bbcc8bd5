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
xenib_up || fail "reloading"
grep -q rxe0 /sys/module/ib_back/parameters/dev || fail "dev parameter not rxe0"
[ "$(back_counter objects.frontends)" = 1 ] || fail "backend does not count one frontend"
[ "$(back_counter objects.contexts)" = 0 ] || fail "backend has contexts with no user"
echo "modules load, unload and reload; xib0 comes and goes with them"
