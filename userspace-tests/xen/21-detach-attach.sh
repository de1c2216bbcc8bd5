#!/bin/sh
# Detach the device from a running domU (its xib0 goes away, the backend
# lets go of the frontend); with no device bound, ib_front can be unloaded
# (xenbus holds a driver's module while it drives a device) and loaded
# again; attach again: xib0 comes back and works.
. ./lib.sh
n=$(back_counter objects.frontends)
xenib-attach detach domu1 || fail "detach"
xib0 domu1 gone ||
	fail "xib0 still there after detach"
wait_for "[ \"\$(back_counter objects.frontends)\" -eq $((n - 1)) ]" || fail "backend kept the frontend"
xrun domu1 'rmmod ib_front && insmod /lib/modules/xenib/ib_front.ko' || fail "ib_front unload/reload"
XENIB_ATTACH_WAIT=30 xenib-attach attach domu1 || fail "re-attach"
xib0 domu1 up ||
	fail "xib0 did not come back"
xrun domu1 "timeout 60 ibv_rc_pingpong -d xib0 -g $GID -n 100 -c -p 18591 >/tmp/s.out 2>&1 & sleep 1; timeout 60 ibv_rc_pingpong -d xib0 -g $GID -n 100 -c -p 18591 127.0.0.1" ||
	fail "xib0 does not work after re-attach"
