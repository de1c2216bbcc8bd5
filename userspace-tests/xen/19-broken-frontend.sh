#!/bin/sh
# A guest kernel that breaks the ring protocol is cut off. ib_front's
# hostile_test=overrun moves domu1's command-ring producer index 1000
# requests past the backend's consumer while a process in domu1 holds an
# MR. The backend logs it naming the domain, closes its end, and releases
# everything domu1 held there at once (contexts, MRs, mapped and fetched
# pages; no ballooned page lost); domu1's frontend follows (both ends
# Closed) and its xib0 goes away. domu2's traffic is untouched, and
# attached again, domu1 works with domu2.
. ./lib.sh
d=$(xl domid domu1)
leaked0=$(back_counter xen.pages_leaked)
trap 'xenib-attach detach domu1; XENIB_ATTACH_WAIT=30 xenib-attach attach domu1' EXIT
xrun domu1 "/xenib/xenib-verbs-test --dev xib0 --hold /tmp/held.addr 60 >/tmp/hold.out 2>&1 & echo \$! >/tmp/hold.pid" ||
	fail "cannot start the holder in domu1"
wait_for "xrun domu1 'test -s /tmp/held.addr' >/dev/null" 20 || fail "domu1 registered no memory"
[ "$(back_counter objects.mrs)" -ge 1 ] || fail "dom0 holds no MR for domu1's process"
xrun domu1 'echo overrun >/sys/module/ib_front/parameters/hostile_test' || fail "hostile_test=overrun"
wait_for "dmesg | grep -q 'domain $d: cut off; released its contexts'" 20 ||
	fail "no cut-off line naming domain $d: $(dmesg | tail -5)"
dmesg | grep -q "domain $d: broke the ring protocol; disconnecting it" ||
	fail "no protocol line naming domain $d: $(dmesg | tail -5)"
xrun domu1 'kill -0 $(cat /tmp/hold.pid)' || echo "note: the holder already exited"
for c in objects.contexts objects.mrs objects.fetched xen.pages_in_use; do
	wait_for '[ "$(back_counter $c)" -eq 0 ]' || fail "dom0 still holds $c: $(back_counter $c)"
done
[ "$(back_counter xen.pages_leaked)" = "$leaked0" ] ||
	fail "dom0 lost ballooned pages: $(back_counter xen.pages_leaked) (was $leaked0)"
wait_for '[ "$(xenib-attach status domu1 | grep -c ": 6$")" -eq 2 ]' 20 ||
	fail "the ends did not both close: $(xenib-attach status domu1 | tr '\n' ' ')"
echo "cut off: $(xenib-attach status domu1 | tr '\n' ' ')"
xib0 domu1 gone || fail "domu1's xib0 is still there"
wait_for '[ "$(back_counter objects.frontends)" -eq 1 ]' || fail "frontends: $(back_counter objects.frontends)"
xrun domu2 "timeout 60 ibv_rc_pingpong -d xib0 -g $GID -n 200 -c -p 18750 >/tmp/s.out 2>&1 & sleep 1; timeout 60 ibv_rc_pingpong -d xib0 -g $GID -n 200 -c -p 18750 127.0.0.1; rc=\$?; wait \$! || rc=1; exit \$rc" ||
	fail "domu2's traffic after domu1 was cut off"
trap - EXIT
xenib-attach detach domu1 || fail "detach domu1"
XENIB_ATTACH_WAIT=30 xenib-attach attach domu1 || fail "attach domu1 again"
xib0 domu1 up || fail "no xib0 in domu1 after attaching again"
xpair ibv_rc_pingpong -d xib0 -g $GID -n 100 -c || fail "traffic between the domUs after re-attaching"
