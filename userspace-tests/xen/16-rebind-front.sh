#!/bin/sh
# The frontend driver lets go of its device (sysfs unbind: what a module
# unload does, which xenbus allows only once no device is bound): the
# device closes, the backend releases the frontend, xib0 goes away. Bound
# again, the same xenbus device reconnects in place and xib0 works.
. ./lib.sh
n=$(back_counter objects.frontends)
xrun domu1 'echo vrdma-0 >/sys/bus/xen/drivers/vrdma/unbind' || fail "unbind in domu1"
xib0 domu1 gone || fail "xib0 still there"
wait_for "[ \"\$(back_counter objects.frontends)\" -eq $((n - 1)) ]" ||
	fail "backend kept the frontend: $(back_counter objects.frontends)"
echo "unbound: $(xenib-attach status domu1 | tr '\n' ' ')"
xrun domu1 'echo vrdma-0 >/sys/bus/xen/drivers/vrdma/bind' || fail "bind in domu1"
xib0 domu1 up ||
	fail "xib0 did not come back: $(xenib-attach status domu1 | tr '\n' ' ')"
wait_for "[ \"\$(back_counter objects.frontends)\" -eq $n ]" || fail "backend did not reconnect"
echo "bound again: $(xenib-attach status domu1 | tr '\n' ' ')"
xpair ibv_rc_pingpong -d xib0 -g $GID -n 100 -c || fail "pingpong after rebinding"
