#!/bin/sh
# Each guest its own RDMA address (xenib-attach --rdma-ip): dom0 puts
# 10.0.4.11 and 10.0.4.12 on xenbr0 (rxe0's netdev) and binds domu1 and
# domu2 to them. With the same address on its xibgid0, each domU's xib0
# shows it as a GID, and RC and UD traffic flows between the domUs from
# those GIDs. A domU that claims the other's address, or the default GID
# every guest without an address shares, is refused (EPERM and a log line
# naming the domain). Over the Xen transport the hostile self-test's
# policy cases get their exact errno, and dom0's GIDs other than the
# default and the guest's own are hidden from it. Detach takes a guest's
# address off xenbr0 and leaves the other's; attached again without one,
# the domUs are back on the default GID.
. ./lib.sh
A1=10.0.4.11 A2=10.0.4.12
# The index of DOMAIN's xib0 GID for IPv4 address ADDR (RoCE v2).
guest_gid() { # DOMAIN ADDR
	xrun "$1" ". /xenib/tests/lib.sh; for i in \$(seq 50); do gid_of xib0 $2 && exit 0; sleep 0.2; done; exit 1"
}
on_xenbr0() { ip -o addr show dev xenbr0 | grep -q " $1/24 "; }
# A pingpong within DOMAIN from its GID INDEX must be refused at RTR
# (the server's modify_qp comes first).
refused() { # DOMAIN INDEX
	xrun "$1" "timeout 30 ibv_rc_pingpong -d xib0 -g $2 -p 18700 >/tmp/s.out 2>&1 & sleep 1; timeout 30 ibv_rc_pingpong -d xib0 -g $2 -p 18700 127.0.0.1; rc=\$?; wait \$! || rc=1; cat /tmp/s.out; exit \$rc" \
		>/tmp/refused.out 2>&1 && fail "$1 sourced traffic from its GID $2: $(cat /tmp/refused.out)"
	grep -q "Failed to modify QP to RTR" /tmp/refused.out ||
		fail "$1, GID $2: not refused at RTR: $(cat /tmp/refused.out)"
}
trap 'for d in domu1 domu2; do xenib-attach detach $d; XENIB_ATTACH_WAIT=30 xenib-attach attach $d; done' EXIT

attach_as domu1 --rdma-ip $A1/24
attach_as domu2 --rdma-ip $A2/24
on_xenbr0 $A1 && on_xenbr0 $A2 || fail "dom0 did not put the guests' addresses on xenbr0"
xrun domu1 "ip addr add $A1/24 dev xibgid0" || fail "domu1: address on xibgid0"
xrun domu2 "ip addr add $A2/24 dev xibgid0" || fail "domu2: address on xibgid0"
g1=$(guest_gid domu1 $A1) || fail "domu1's xib0 has no GID for $A1"
g2=$(guest_gid domu2 $A2) || fail "domu2's xib0 has no GID for $A2"
[ "$g1" = "$g2" ] || fail "the domUs' own GIDs have different indices ($g1, $g2)"
echo "domu1 $A1 and domu2 $A2: xib0 GID $g1"

xpair ibv_rc_pingpong -d xib0 -g "$g1" -n 100 -c || fail "RC between the domUs from their own addresses"
xpair ibv_ud_pingpong -d xib0 -g "$g1" -n 100 -c || fail "UD between the domUs from their own addresses"

xrun domu1 "ip addr add $A2/24 dev xibgid0" || fail "domu1: second address"
s=$(guest_gid domu1 $A2) || fail "domu1's xib0 has no GID for $A2"
refused domu1 "$s"
dmesg | grep -q "domain $(xl domid domu1): refused source GID ::ffff:$A2: not the guest's" ||
	fail "no log line naming domu1 and the GID: $(dmesg | tail -5)"
refused domu1 0

xrun domu1 'dmesg -c >/dev/null; echo device >/sys/module/ib_front/parameters/hostile_test; dmesg | grep "hostile:"; cat /sys/module/ib_front/parameters/hostile_test' \
	>/tmp/hostile.out 2>&1
grep "policy\|GIDs" /tmp/hostile.out
grep -q "^passed [1-9][0-9]* failed 0" /tmp/hostile.out || fail "hostile self-test: $(tail -3 /tmp/hostile.out)"
[ "$(grep -c 'hostile: ok - policy:' /tmp/hostile.out)" = 7 ] || fail "not all 7 policy cases ran"
# What domu1 may see of rxe0's table: the default GID and its own.
def=$(cat /sys/class/infiniband/rxe0/ports/1/gids/0) own=0000:0000:0000:0000:0000:ffff:0a00:040b
v=0 h=0
for f in /sys/class/infiniband/rxe0/ports/1/gids/*; do
	[ "${f##*/}" -lt 256 ] || continue
	case $(cat "$f") in
	0000:0000:0000:0000:0000:0000:0000:0000) ;;
	"$def" | "$own") v=$((v + 1)) ;;
	*) h=$((h + 1)) ;;
	esac
done
grep -q "GIDs visible $v hidden $h" /tmp/hostile.out || fail "domu1 should see $v GIDs and not $h: $(grep GIDs /tmp/hostile.out)"
[ "$h" -ge 2 ] || fail "rxe0 has only $h GIDs that are not domu1's (dom0's 10.0.3.1 and domu2's address at least)"

trap - EXIT
attach_as domu1
on_xenbr0 $A1 && fail "$A1 still on xenbr0 after domu1's detach"
on_xenbr0 $A2 || fail "domu1's detach took domu2's address off xenbr0"
attach_as domu2
on_xenbr0 $A2 && fail "$A2 still on xenbr0 after domu2's detach"
xpair ibv_rc_pingpong -d xib0 -g $GID -n 100 -c || fail "the default GID after attaching without addresses"
