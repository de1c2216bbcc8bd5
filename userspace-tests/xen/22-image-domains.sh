#!/bin/sh
# The domUs run the small guest image (images/guest/domu.list), which dom0
# fetched into its node cache and started with xenib-image (dom0-init):
# the cache holds it complete and names the domains running from it; a
# second fetch transfers nothing; domu2 (destroyed by 20-destroy-domu,
# which left its record stale) starts again from the cache, timed to its
# ready line, gets xib0 and runs a checked ping-pong with domu1; then
# `xenib-image stop` shuts it down in order (no forced destroy), its
# record goes and the backend keeps nothing of it. Runs last.
. ./lib.sh
digest=$(cat /xenib/images/domu.digest)
echo "first starts (dom0-init):"
grep -E '^xenib-image (fetch|start):' /tmp/xenib-image.log
xenib-image status >/tmp/status.out || fail "status failed"
cat /tmp/status.out
grep -q "^image $digest .* complete" /tmp/status.out || fail "image $digest not complete in the cache"
grep -qx "  domain domu1" /tmp/status.out || fail "domu1 not recorded as running from the image"
xrun domu1 cat /etc/xenib-guest | grep -qx "name=xib-domu" || fail "domu1 does not run the xib-domu image"

# Warm: the image is in the cache, nothing moves.
xenib-image fetch "$digest" --from /xenib/images/store >/tmp/fetch.out 2>&1 || { cat /tmp/fetch.out; fail "warm fetch failed"; }
cat /tmp/fetch.out
grep -q " union_chunks=0 .* storage_chunks=0 storage_bytes=0 stored=0 " /tmp/fetch.out ||
	fail "a warm fetch transferred chunks"

# An orderly stop of domu2: its job ends, then init powers off on Xen's
# shutdown request; the record goes and the backend lets go of it.
stop_domu2() {
	ends() { grep -c '^XENIB-END' /var/log/xen/guest-domu2.log; }
	before=$(ends)
	xrun domu2 "touch /tmp/xenib-done" >/dev/null
	wait_for '[ "$(ends)" -gt "$before" ]' 60 || fail "domu2's job did not end"
	domid=$(xl domid domu2)
	xenib-image stop domu2 --timeout 120 >/tmp/stop.out 2>&1 || { cat /tmp/stop.out; fail "stop failed"; }
	cat /tmp/stop.out
	grep -q "^xenib-image stop: name=domu2 digest=$digest already_gone=0 forced=0 " /tmp/stop.out ||
		fail "domu2 did not shut down in order"
	xl domid domu2 >/dev/null 2>&1 && fail "domu2 still exists after stop"
	xenib-image status | grep -q "domain domu2" && fail "domu2's record is still there"
	wait_for '[ "$(back_counter objects.frontends)" -eq 1 ]' 20 ||
		fail "the backend still serves the stopped domu2: $(back_counter objects.frontends) frontends"
	xenib-attach detach "$domid" || fail "detach of the stopped domain's device"
	echo "domu2 stopped; backend: $(grep objects /dev/xenib_back | tr '\n' ' ')"
}

# domu2 again, from the cache (after 20-destroy-domu; run alone, this
# test stops it first).
if xl domid domu2 >/dev/null 2>&1; then
	stop_domu2
	stale=
else
	stale=1
fi
xenib-image start "$digest" --name domu2 --config /tmp/domu2.cfg --append-initrd /tmp/job.cpio \
	--console-log /var/log/xen/guest-domu2.log --timeout 300 >/tmp/start.out 2>&1 ||
	{ cat /tmp/start.out; fail "start domu2 failed"; }
cat /tmp/start.out
[ -z "$stale" ] || grep -q "replacing the stale record of domu2" /tmp/start.out ||
	fail "the stale record was not noticed"
grep -q "^xenib-image start: name=domu2 domid=$(xl domid domu2) digest=$digest " /tmp/start.out ||
	fail "start did not report domu2's domain id"
XENIB_ATTACH_WAIT=30 xenib-attach attach domu2 || fail "attach domu2"
# Its command service starts once its xib0 is there (domu-setup).
wait_for 'xrun domu2 true >/dev/null 2>&1' 120 || fail "restarted domu2 never served commands"
xib0 domu2 up || fail "restarted domu2 has no xib0"
xpair ibv_rc_pingpong -d xib0 -g $GID -n 100 -s 4096 -c || fail "ping-pong with the restarted domu2"
stop_domu2
