# SPDX-License-Identifier: GPL-2.0
# The userspace verbs suite (xenib-verbs-test: data integrity and error
# cases through unmodified libibverbs) passes on the native rxe0 device. Its
# expected error statuses are rxe's, so this run is the reference that the
# paravirtual device's run is compared with.
. ./lib.sh
[ -x /xenib/xenib-verbs-test ] || fail "xenib-verbs-test not in the image (scripts/build-userspace-tests)"
g=$(ipv4_gid_index rxe0) || fail "rxe0 has no IPv4 GID"
/xenib/xenib-verbs-test --dev rxe0 --gid-index "$g" || fail "xenib-verbs-test on rxe0"
