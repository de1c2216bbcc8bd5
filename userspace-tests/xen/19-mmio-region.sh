#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# A device's doorbell page (MMIO) mapped into guest processes: an emulated
# PCI BAR (QEMU's ivshmem, which scripts/guest-run gives Xen boots) stands
# in for an HCA's UAR page, served at the test offset of every context
# (ib_back's test_mmio_file; Documentation/design.rst, "Doorbell pages").
# - A store by a domu2 process lands in the BAR (read back in dom0).
# - While domu2 holds the frame, Xen lets domu2 map it (a raw DOMID_IO
#   mapping, as a hostile process could make) and refuses domu1, whose
#   own region request gets EBUSY.
# - When domu2's context closes, Xen refuses domu2 too (permission
#   withdrawn), and domu1 still gets EBUSY: the frame stays domu2's until
#   domu2 is gone (20-mmio-after-destroy checks that it then is free).
. ./lib.sh
P1=0x58454e49424d4d31 P2=0x58454e49424d4d32
bar=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/vendor")" = 0x1af4 ] && [ "$(cat "$d/device")" = 0x1110 ] && bar=$d
done
[ -n "$bar" ] || fail "dom0 has no ivshmem device (scripts/guest-run adds one to Xen boots)"
start=$(sed -n 3p "$bar/resource" | cut -d' ' -f1)
frame=$(printf '%#x' $((start >> 12)))
echo "BAR 2 of $bar at $start: frame $frame"
echo "$bar/resource2" >/sys/module/ib_back/parameters/test_mmio_file || fail "cannot set test_mmio_file"
echo "$frame" >/tmp/xenib-mmio-frame
probe() { # DOMAIN ARGS...
	d=$1; shift
	xrun "$d" "/xenib/xenib-mmio-probe $*"
}
# A raw DOMID_IO mapping (privcmd's IOCTL_PRIVCMD_MMAP) exists in PV
# domains only: in an auto-translated one the raw checks are skipped.
raw_refused() { # DOMAIN: Xen refuses DOMAIN the frame
	[ "$(guest_type_of "$1")" != pv ] && return 0
	out=$(probe "$1" raw "$frame") && { echo "$out"; return 1; }
	echo "$1: $out"
	# Xen's own refusal (privcmd is unrestricted), not a failure of the probe.
	echo "$out" | grep -q 'refused: EPERM' || { echo "not Xen's EPERM"; return 1; }
}

xrun domu2 "/xenib/xenib-mmio-probe region xib0 $P1 60 >/tmp/mmio.out 2>&1 & echo \$! >/tmp/mmio.pid" ||
	fail "cannot start the region holder in domu2"
wait_for "xrun domu2 'grep -q mapped /tmp/mmio.out' >/dev/null" 30 ||
	fail "domu2 did not map the region: $(xrun domu2 'cat /tmp/mmio.out')"
[ "$(back_counter io.frames)" = 1 ] || fail "io.frames $(back_counter io.frames), not 1"
/xenib/xenib-mmio-probe check "$bar/resource2" "$P1" || fail "domu2's stores are not in the BAR"
if [ "$(guest_type_of domu2)" = pv ]; then
	out=$(probe domu2 raw "$frame") || fail "Xen refused domu2 the frame it was given: $out"
	echo "domu2: $out"
	[ "${out##* }" = "$P1" ] || fail "domu2's raw mapping reads ${out##* }, not $P1"
fi
out=$(probe domu1 region xib0 "$P2")
[ $? = 2 ] && echo "$out" | grep -q EBUSY || fail "domu1 got domu2's frame: $out"
echo "domu1: $out"
d1=$(xl domid domu1) d2=$(xl domid domu2)
dmesg | grep -q "domain $d1: I/O frame $frame is domain $d2's until it is gone" ||
	fail "no log line naming domain $d1 and domain $d2"
raw_refused domu1 || fail "Xen let domu1 map domu2's frame"

xrun domu2 'kill $(cat /tmp/mmio.pid)' || fail "cannot stop the holder"
wait_for '[ "$(back_counter io.frames)" = 0 ]' 20 || fail "permission not withdrawn: io.frames $(back_counter io.frames)"
[ "$(back_counter io.quarantined)" = 1 ] || fail "io.quarantined $(back_counter io.quarantined), not 1"
raw_refused domu2 || fail "domu2 still maps the frame after its context closed"
out=$(probe domu1 region xib0 "$P2")
[ $? = 2 ] && echo "$out" | grep -q EBUSY || fail "domu1 got the frame while domu2 lives: $out"
echo "domu1 while domu2 lives: $out"
# The frame is domu2's own: it gets it again.
probe domu2 region xib0 "$P1" || fail "domu2 cannot map its own frame again"
wait_for '[ "$(back_counter io.frames)" = 0 ]' 20 || fail "io.frames $(back_counter io.frames) after exit"
for c in objects.contexts objects.mmaps; do
	wait_for "[ \"\$(back_counter $c)\" -eq 0 ]" || fail "backend still holds $c: $(back_counter $c)"
done
