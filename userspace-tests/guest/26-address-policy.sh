# SPDX-License-Identifier: GPL-2.0
# The backend binds a guest to its own RDMA addresses (ib_back/policy.rs).
# The loopback frontend owns 10.0.2.15 (loop_rdma_ip). A second address on
# the port's netdev, 10.0.2.16, is the driver domain's: xib0 sees it as a
# GID too (both share eth0 here), but a QP path (RC) or an address handle
# (UD) from it is refused with EPERM and a log line naming the guest, and
# so is the port's default GID; traffic from the guest's own GID flows.
# Without an address the guest has the default GID and nothing else. The
# policy cases of the hostile self-test (foreign GIDs by value, privileged
# QKeys, P_Key indices, raw packet and XRC QPs) and its port cases (port
# numbers past the device's, a RoCE AH without a GRH, dlid and path bits on
# RoCE) get their exact errno on xib0's own connection, which keeps working.
. ./lib.sh
P=/sys/module/ib_back/parameters/loop_rdma_ip
reconnect() {
	rmmod ib_front && insmod /lib/modules/xenib/ib_front.ko && [ -d /sys/class/infiniband/xib0 ]
}
cleanup() {
	ip addr del 10.0.2.16/24 dev eth0 2>/dev/null
	echo "$LOOP_RDMA_IP" >$P
	reconnect
}
trap cleanup EXIT
refused() { # WHAT TOOL ARGS...: the pair fails at the verb WHAT
	what=$1; shift
	pair timeout 30 "$@" >/tmp/pair.out 2>&1 && fail "$* worked: $(cat /tmp/pair.out)"
	grep -q "$what" /tmp/pair.out || fail "$*: not refused at '$what': $(cat /tmp/pair.out)"
}

[ "$(cat $P)" = 10.0.2.15 ] || fail "loop_rdma_ip is '$(cat $P)'"
ip addr add 10.0.2.16/24 dev eth0 || fail "adding 10.0.2.16"
for i in $(seq 50); do gid_of xib0 10.0.2.16 >/dev/null && break; sleep 0.2; done
own=$(gid_of xib0 10.0.2.15) || fail "xib0 has no GID for 10.0.2.15"
other=$(gid_of xib0 10.0.2.16) || fail "xib0 has no GID for 10.0.2.16"
echo "own GID $own, the driver domain's $other"

dmesg -c >/dev/null
pair timeout 60 ibv_rc_pingpong -d xib0 -g "$own" -n 20 -c >/dev/null || fail "RC from the guest's own GID"
pair timeout 60 ibv_ud_pingpong -d xib0 -g "$own" -n 20 -c >/dev/null || fail "UD from the guest's own GID"
refused "Failed to modify QP to RTR" ibv_rc_pingpong -d xib0 -g "$other" -n 5
refused "Failed to create AH" ibv_ud_pingpong -d xib0 -g "$other" -n 5
dmesg | grep -q "loopback frontend: refused source GID ::ffff:10.0.2.16: not the guest's" ||
	fail "no log line naming the guest and the GID"
refused "Failed to modify QP to RTR" ibv_rc_pingpong -d xib0 -g 0 -n 5
# The driver domain itself is not bound: rxe0 uses 10.0.2.16.
pair timeout 60 ibv_rc_pingpong -d rxe0 -g "$(gid_of rxe0 10.0.2.16)" -n 5 >/dev/null ||
	fail "rxe0 from 10.0.2.16"

# No address: the default GID only.
echo "" >$P
reconnect || fail "reconnecting without an address"
pair timeout 60 ibv_rc_pingpong -d xib0 -g 0 -n 20 -c >/dev/null || fail "RC from the default GID"
refused "Failed to modify QP to RTR" ibv_rc_pingpong -d xib0 -g "$(gid_of xib0 10.0.2.15)" -n 5

# A bad address list refuses the connection, with a clear error.
echo "10.0.2.300" >$P
rmmod ib_front || fail "rmmod"
insmod /lib/modules/xenib/ib_front.ko 2>/dev/null && fail "ib_front connected with a bad address list"
dmesg | grep -q "loopback frontend: bad RDMA address list" || fail "no error for a bad address list"
echo "$LOOP_RDMA_IP" >$P
insmod /lib/modules/xenib/ib_front.ko || fail "insmod after the bad list"

echo device >/sys/module/ib_front/parameters/hostile_test || fail "running the policy cases"
dmesg | grep "hostile:" | grep policy
result=$(cat /sys/module/ib_front/parameters/hostile_test)
case $result in
"passed "*" failed 0") ;;
*) fail "hostile device cases: $result" ;;
esac
[ "$(dmesg | grep -c 'hostile: ok - policy:')" = 7 ] || fail "not all 7 policy cases ran"

# Ports and link layers (xen_ring/src/av.rs): rxe is RoCE with one port.
# A fresh window of the backend's log rate limit (10 lines in 5 s) for the
# log lines checked below.
sleep 6
dmesg -c >/dev/null
echo ports >/sys/module/ib_front/parameters/hostile_test || fail "running the port cases"
dmesg | grep "hostile:" | grep ports
result=$(cat /sys/module/ib_front/parameters/hostile_test)
case $result in
"passed 9 failed 0") ;;
*) fail "hostile port cases: $result" ;;
esac
dmesg | grep -q "loopback frontend: refused an address: port 2 is not the device's" ||
	fail "no log line for an AH on port 2"
dmesg | grep -q "loopback frontend: refused a QP change: port 255 is not the device's" ||
	fail "no log line for IB_QP_PORT 255"
dmesg | grep -q "loopback frontend: refused a QP change: port 0 is not the device's" ||
	fail "no log line for a path on port 0"
dmesg | grep -q "loopback frontend: refused an address: a RoCE address without a GRH" ||
	fail "no log line for a RoCE AH without a GRH"
pair timeout 60 ibv_rc_pingpong -d xib0 -g "$own" -n 20 -c >/dev/null || fail "xib0 after the policy cases"
all_released
