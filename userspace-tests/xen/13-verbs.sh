#!/bin/sh
# The data-integrity and verbs suite (userspace-tests, Rust) on xib0 in
# each domU: every verb through the Xen transport, data checked. Then the
# resize cases between the domUs: domu1 sends 220 messages into an SRQ and
# a CQ that domu2 grew (ibv_modify_srq, ibv_resize_cq), data checked.
# The registration cache works through the Xen transport too: the suite
# registers buffers again (mr_cache_reuse), which dom0 serves over kept
# grant mappings (RegMrCached), and none is left kept afterwards.
. ./lib.sh
hits0=$(back_counter requests.RegMrCached)
for d in domu1 domu2; do
	for attempt in 1 2 3; do
		xrun "$d" /xenib/xenib-verbs-test --dev xib0 --gid-index $GID >/tmp/verbs.out 2>&1
		rc=$?
		[ $rc -lt 128 ] && break
	done
	sed "s/^/$d: /" /tmp/verbs.out
	[ $rc -eq 0 ] || fail "$d: verbs suite failed (exit $rc)"
done
xpair /xenib/xenib-verbs-test --dev xib0 --gid-index $GID --resize-pair || fail "resize pair"
grep -q "all intact" /tmp/server.out || fail "resize pair: no verdict from the receiver"
wait_for '[ "$(back_counter objects.contexts)" -eq 0 ]' || fail "contexts left: $(back_counter objects.contexts)"
hits=$(( $(back_counter requests.RegMrCached) - hits0 ))
[ "$hits" -ge 2 ] || fail "only $hits registrations over kept pages for two domUs"
wait_for '[ "$(back_counter objects.cached)" -eq 0 ]' || fail "kept page ranges left: $(back_counter objects.cached)"
echo "registrations over kept pages: $hits"
