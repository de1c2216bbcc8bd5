# SPDX-License-Identifier: GPL-2.0
# Our modules load, show up in sysfs, unload and load again cleanly.
. ./lib.sh
for m in ib_back ib_front; do
	[ -d /sys/module/$m ] || fail "$m not loaded by init"
done
rmmod ib_front || fail "rmmod ib_front"
rmmod ib_back || fail "rmmod ib_back"
for m in ib_back ib_front; do
	[ -d /sys/module/$m ] && fail "$m still present after rmmod"
done
insmod /lib/modules/xenib/ib_back.ko dev=rxe0 || fail "reload ib_back"
insmod /lib/modules/xenib/ib_front.ko || fail "reload ib_front"
grep -q rxe0 /sys/module/ib_back/parameters/dev || fail "dev parameter not rxe0"
echo "modules load, unload and reload"
