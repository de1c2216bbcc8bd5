#!/bin/sh
# A guest gets one vrdma device: a second one (devid 1) is refused by the
# guest's frontend (EBUSY, a log line naming the device) and closes,
# leaving the first device, its xib0 and the backend's state as they were.
# Detached, the second device leaves nothing behind.
. ./lib.sh
n=$(back_counter objects.frontends)
xrun domu1 'dmesg -c >/dev/null'
trap 'xenib-attach detach domu1 1 2>/dev/null' EXIT
xenib-attach attach domu1 1 || fail "attach domu1 devid 1"
fe=/local/domain/$(xl domid domu1)/device/vrdma/1
wait_for "[ \"\$(xenstore-read $fe/state)\" -ge 5 ]" 30 ||
	fail "the second device did not close: $(xenib-attach status domu1 1 | tr '\n' ' ')"
echo "second device: $(xenib-attach status domu1 1 | tr '\n' ' ')"
xrun domu1 'dmesg' >/tmp/second.out
grep -q "device/vrdma/1: this guest already has a vrdma device; only one is supported" /tmp/second.out ||
	fail "no log line naming the second device: $(tail -5 /tmp/second.out)"
[ "$(back_counter objects.frontends)" -eq "$n" ] ||
	fail "backend frontends $(back_counter objects.frontends), not $n"
xrun domu1 '[ -d /sys/class/infiniband/xib0 ] && [ ! -d /sys/class/infiniband/xib1 ]' ||
	fail "domu1's devices changed: $(xrun domu1 'ls /sys/class/infiniband')"
xenib-attach detach domu1 1 || fail "detach domu1 devid 1"
trap - EXIT
xpair ibv_rc_pingpong -d xib0 -g $GID -n 100 -c || fail "pingpong on the first device"
