#!/bin/sh
# The data-integrity and verbs suite (userspace-tests, Rust) on xib0 in
# each domU: every verb through the Xen transport, data checked.
. ./lib.sh
for d in domu1 domu2; do
	for attempt in 1 2 3; do
		xrun "$d" /xenib/xenib-verbs-test --dev xib0 --gid-index $GID >/tmp/verbs.out 2>&1
		rc=$?
		[ $rc -lt 128 ] && break
	done
	sed "s/^/$d: /" /tmp/verbs.out
	[ $rc -eq 0 ] || fail "$d: verbs suite failed (exit $rc)"
done
wait_for '[ "$(back_counter objects.contexts)" -eq 0 ]' || fail "contexts left: $(back_counter objects.contexts)"
