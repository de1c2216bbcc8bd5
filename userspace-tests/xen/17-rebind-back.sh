#!/bin/sh
# The backend driver lets go of both devices (sysfs unbind in dom0): both
# domUs see their backend close, their xib0 go away as hot-unplugged
# devices, and the backend holds nothing of them. Bound again, both
# reconnect in place and work.
. ./lib.sh
# backend_driver unbind|bind: for both domUs' devices.
backend_driver() {
	for d in 1 2; do
		echo "vrdma-$d-0" >/sys/bus/xen-backend/drivers/vrdma/$1 || fail "$1 vrdma-$d-0"
	done
}
backend_driver unbind
for d in domu1 domu2; do
	xib0 "$d" gone || fail "$d: xib0 still there after the backend closed"
done
wait_for '[ "$(back_counter objects.frontends)" -eq 0 ]' || fail "backend still serves $(back_counter objects.frontends)"
echo "unbound: $(xenib-attach status domu1 | tr '\n' ' ')"
backend_driver bind
for d in domu1 domu2; do
	xib0 "$d" up || fail "$d: xib0 did not come back: $(xenib-attach status $d | tr '\n' ' ')"
done
[ "$(back_counter objects.frontends)" -eq 2 ] || fail "backend serves $(back_counter objects.frontends) frontends"
echo "bound again: $(xenib-attach status domu1 | tr '\n' ' ')"
xpair ibv_rc_pingpong -d xib0 -g $GID -n 100 -c || fail "pingpong after rebinding"
