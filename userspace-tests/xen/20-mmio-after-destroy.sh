#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# After 20-destroy-domu, the doorbell frame that 19-mmio-region left in
# domu2's quarantine is free: domu1 maps it, its stores land in the BAR,
# and domu1 may map the frame itself while its region lives. This time the
# BAR is mapped write-combining in dom0 (resource2_wc, as a BlueFlame
# page): the write-combining path (what caching the guest's PTEs get is
# not observed here).
. ./lib.sh
P3=0x58454e49424d4d33
[ -s /tmp/xenib-mmio-frame ] || fail "19-mmio-region did not run"
frame=$(cat /tmp/xenib-mmio-frame)
file=$(cat /sys/module/ib_back/parameters/test_mmio_file)
[ -e "${file}_wc" ] || fail "no ${file}_wc"
echo "${file}_wc" >/sys/module/ib_back/parameters/test_mmio_file
xrun domu1 "/xenib/xenib-mmio-probe region xib0 $P3 60 >/tmp/mmio.out 2>&1 & echo \$! >/tmp/mmio.pid" ||
	fail "cannot start the region holder in domu1"
wait_for "xrun domu1 'grep -q mapped /tmp/mmio.out' >/dev/null" 30 ||
	fail "domu1 did not get the frame of the destroyed domu2: $(xrun domu1 'cat /tmp/mmio.out')"
/xenib/xenib-mmio-probe check "$file" "$P3" || fail "domu1's stores are not in the BAR"
if [ "$(guest_type_of domu1)" = pv ]; then
	out=$(xrun domu1 "/xenib/xenib-mmio-probe raw $frame") || fail "Xen refused domu1 its frame: $out"
	[ "${out##* }" = "$P3" ] || fail "domu1's raw mapping reads ${out##* }, not $P3"
fi
xrun domu1 'kill $(cat /tmp/mmio.pid)' || fail "cannot stop the holder"
wait_for '[ "$(back_counter io.frames)" = 0 ]' 20 || fail "io.frames $(back_counter io.frames)"
echo >/sys/module/ib_back/parameters/test_mmio_file
