# SPDX-License-Identifier: GPL-2.0
# The userspace verbs suite (xenib-verbs-test) passes on the paravirtual
# xib0 with the very statuses and errors native rxe0 gives (20-verbs-rxe):
# data arrives intact for every transfer type, and every error case fails
# exactly as on the real device.
. ./lib.sh
[ -x /xenib/xenib-verbs-test ] || fail "xenib-verbs-test not in the image (scripts/build-userspace-tests)"
g=$(ipv4_gid_index xib0) || fail "xib0 has no IPv4 GID"
/xenib/xenib-verbs-test --dev xib0 --gid-index "$g" || fail "xenib-verbs-test on xib0"
for c in objects.contexts objects.mrs objects.mws objects.mmaps objects.grants; do
	[ "$(back_counter $c)" = 0 ] || fail "backend still holds $c: $(back_counter $c)"
done
rxe_clean || fail "the real device kept objects"
