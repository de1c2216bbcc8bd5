# SPDX-License-Identifier: GPL-2.0
# Per-guest quotas: with ib_back's max_qps at 10, a process on xib0 sees
# max_qp 10 in ibv_query_device, creates 10 QPs and the 11th fails with
# EDQUOT, with one log line naming the guest; destroyed QPs are given back
# (a new one works), and so is everything at process exit (a second
# process gets all 10 again). With max_mr_mib at 48, a second 32 MiB
# registration fails with EDQUOT and leaves nothing pinned; with the
# driver domain's budget for all guests (max_total_mr_mib) at 48 instead,
# it fails with ENOSPC, likewise. With max_mws at 3, a process sees
# max_mw 3, allocates 3 memory windows (the backend counts objects.mws 3)
# and the 4th fails with EDQUOT; those it leaves to its exit are given
# back (a second process gets 3 again, objects.mws returns to 0). The other
# limits hold likewise in the
# device's maxima, which xib0 takes when it connects (the RDMA core keeps
# a device's attributes from its registration): hence the reloads.
. ./lib.sh
P=/sys/module/ib_back/parameters
old=$(cat $P/max_qps) old_mr=$(cat $P/max_mr_mib) old_total=$(cat $P/max_total_mr_mib) old_mws=$(cat $P/max_mws)
reconnect() {
	rmmod ib_front && insmod /lib/modules/xenib/ib_front.ko && [ -d /sys/class/infiniband/xib0 ]
}
trap 'echo $old >$P/max_qps; echo $old_mr >$P/max_mr_mib; echo $old_total >$P/max_total_mr_mib; echo $old_mws >$P/max_mws; reconnect' EXIT
echo 10 >$P/max_qps
reconnect || fail "reconnecting xib0"
dmesg -c >/dev/null
for run in 1 2; do
	out=$(/xenib/xenib-verbs-test --dev xib0 --exhaust-qps 100) || fail "run $run: $out"
	echo "run $run: $out"
	case "$out" in
	*"max_qp 10 created 10 refused EDQUOT again ok"*) ;;
	*) fail "run $run: not 10 QPs then EDQUOT: $out" ;;
	esac
done
dmesg | grep -q "loopback frontend: its quota of 10 QPs is used up" || fail "no log line naming the guest"
echo 48 >$P/max_mr_mib
out=$(/xenib/xenib-verbs-test --dev xib0 --exhaust-mr) || fail "exhaust-mr: $out"
echo "$out"
case "$out" in
*"first ok second EDQUOT vmpin 32768 vmpin_end 0"*) ;;
*) fail "not 32 MiB, then EDQUOT with only the first pinned: $out" ;;
esac
dmesg | grep -q "its quota of 48 MiB of registered memory is used up" || fail "no log line for the MR quota"
echo $old_mr >$P/max_mr_mib
echo 48 >$P/max_total_mr_mib
out=$(/xenib/xenib-verbs-test --dev xib0 --exhaust-mr) || fail "exhaust-mr (all guests): $out"
echo "$out"
case "$out" in
*"first ok second ENOSPC vmpin 32768 vmpin_end 0"*) ;;
*) fail "not 32 MiB, then ENOSPC with only the first pinned: $out" ;;
esac
dmesg | grep -q "loopback frontend: refused 32 MiB: all guests' registered memory is at the limit of 48 MiB" ||
	fail "no log line for the driver domain's budget"
echo $old_total >$P/max_total_mr_mib
echo 3 >$P/max_mws
reconnect || fail "reconnecting xib0 (max_mws 3)"
dmesg -c >/dev/null
for run in 1 2; do
	out=$(/xenib/xenib-verbs-test --dev xib0 --exhaust-mws 100) || fail "MWs, run $run: $out"
	echo "MWs, run $run: $out"
	case "$out" in
	*"max_mw 3 created 3 refused EDQUOT held 3 again ok"*) ;;
	*) fail "MWs, run $run: not 3 windows then EDQUOT: $out" ;;
	esac
	counter_drops_to_zero objects.mws
done
dmesg | grep -q "loopback frontend: its quota of 3 MWs is used up" || fail "no log line for the MW quota"
echo $old_mws >$P/max_mws
max_cq=$(ibv_devinfo -d xib0 -v | awk '$1 == "max_cq:" { print $2 }')
[ "$max_cq" = "$(cat $P/max_cqs)" ] || [ "$max_cq" -lt "$(cat $P/max_cqs)" ] ||
	fail "xib0 reports max_cq $max_cq above the guest's quota $(cat $P/max_cqs)"
all_released
