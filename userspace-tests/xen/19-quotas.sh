#!/bin/sh
# Quotas from a domU. With ib_back's max_qps at 10 (xib0 takes its maxima
# when it connects: domu1 is attached again), domu1 sees max_qp 10,
# creates 10 QPs and the 11th gets EDQUOT, with a log line naming the
# domain. The driver domain's budget for all guests' registered memory
# (max_total_mr_mib, 33 MiB) counts every guest: while domu2 holds a
# 1 MiB MR, domu1's first 32 MiB fits and its second gets ENOSPC, logged
# naming domu1, with nothing left pinned in domu1. domu2's MR stays
# intact and the domUs' traffic flows; afterwards dom0 holds nothing.
. ./lib.sh
P=/sys/module/ib_back/parameters
old_qps=$(cat $P/max_qps) old_total=$(cat $P/max_total_mr_mib)
d=$(xl domid domu1)
reattach() {
	xenib-attach detach domu1 && XENIB_ATTACH_WAIT=30 xenib-attach attach domu1 && xib0 domu1 up
}
trap 'echo $old_qps >$P/max_qps; echo $old_total >$P/max_total_mr_mib; reattach' EXIT
echo 10 >$P/max_qps
reattach || fail "attaching domu1 again"
out=$(xrun domu1 "/xenib/xenib-verbs-test --dev xib0 --gid-index $GID --exhaust-qps 100") || fail "exhaust-qps: $out"
echo "domu1: $out"
case "$out" in
*"max_qp 10 created 10 refused EDQUOT again ok"*) ;;
*) fail "not 10 QPs then EDQUOT: $out" ;;
esac
dmesg | grep -q "domain $d: its quota of 10 QPs is used up" || fail "no log line naming domain $d"
echo $old_qps >$P/max_qps

echo 33 >$P/max_total_mr_mib
xrun domu2 "/xenib/xenib-verbs-test --dev xib0 --hold /tmp/held.addr 30 >/tmp/hold.out 2>&1 & echo \$! >/tmp/hold.pid" ||
	fail "cannot start the holder in domu2"
wait_for "xrun domu2 'test -s /tmp/held.addr' >/dev/null" 20 || fail "domu2 registered no memory"
out=$(xrun domu1 "/xenib/xenib-verbs-test --dev xib0 --exhaust-mr") || fail "exhaust-mr: $out"
echo "domu1: $out"
case "$out" in
*"first ok second ENOSPC vmpin 32768 vmpin_end 0"*) ;;
*) fail "not 32 MiB, then ENOSPC with only the first pinned: $out" ;;
esac
dmesg | grep -q "domain $d: refused 32 MiB: all guests' registered memory is at the limit of 33 MiB" ||
	fail "no log line naming domain $d for the driver domain's budget"
echo $old_total >$P/max_total_mr_mib
xrun domu2 'for i in $(seq 200); do kill -0 $(cat /tmp/hold.pid) 2>/dev/null || break; sleep 0.2; done; cat /tmp/hold.out' \
	>/tmp/hold.out 2>&1
cat /tmp/hold.out
grep -q "intact" /tmp/hold.out || fail "domu2's registered memory changed"
trap - EXIT
reattach || fail "attaching domu1 again"
xpair ibv_rc_pingpong -d xib0 -g $GID -n 100 -c || fail "traffic between the domUs"
for c in objects.contexts objects.mrs objects.fetched xen.pages_in_use; do
	wait_for '[ "$(back_counter $c)" -eq 0 ]' || fail "dom0 still holds $c: $(back_counter $c)"
done
