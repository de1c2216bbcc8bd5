#!/bin/sh
# A hostile domU over the real Xen transport: ib_front's self-test run on
# xib0's own connection in domu1 (hostile_test=device) sends grant
# references that name nothing (as an indirect page, and beside a good one
# in an MR's page list), pages never granted, a forged context handle and
# an absurd mmap; each gets its exact errno. Afterwards dom0 holds nothing
# for it (objects, grants, ballooned pages: a failed grant mapping gives
# back every page it took) and the domUs' traffic is untouched.
. ./lib.sh
leaked0=$(back_counter xen.pages_leaked)
xrun domu1 'echo device >/sys/module/ib_front/parameters/hostile_test; dmesg | grep "hostile:"; cat /sys/module/ib_front/parameters/hostile_test' \
	>/tmp/hostile.out 2>&1
cat /tmp/hostile.out
grep -q "FAILED\|aborted" /tmp/hostile.out && fail "a hostile case failed"
grep -q "^passed [1-9][0-9]* failed 0" /tmp/hostile.out || fail "no result from the hostile self-test"
for c in objects.contexts objects.mrs objects.grants objects.fetched xen.pages_in_use; do
	wait_for '[ "$(back_counter $c)" -eq 0 ]' || fail "dom0 still holds $c: $(back_counter $c)"
done
[ "$(back_counter xen.pages_leaked)" = "$leaked0" ] ||
	fail "dom0 lost ballooned pages: $(back_counter xen.pages_leaked) (was $leaked0)"
xpair ibv_rc_pingpong -d xib0 -g $GID -n 100 -c || fail "traffic between the domUs after the attack"
