# SPDX-License-Identifier: GPL-2.0
# Helpers for guest tests (sourced).
KSFT_SKIP=4
fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "SKIP: $*"; exit $KSFT_SKIP; }
# The IPv4 GID of a RoCE device (its index), which the ibv_* tools take as -g.
ipv4_gid_index() {
	dev=$1
	for f in /sys/class/infiniband/$dev/ports/1/gids/*; do
		case $(cat "$f") in
		0000:0000:0000:0000:0000:ffff:*) basename "$f"; return 0 ;;
		esac
	done
	return 1
}
# The index of DEV's GID for IPv4 address ADDR, of TYPE (default RoCE v2).
gid_of() { # DEV ADDR [TYPE]
	hex=$(echo "$2" | awk -F. '{ printf "%02x%02x:%02x%02x", $1, $2, $3, $4 }')
	for f in /sys/class/infiniband/$1/ports/1/gids/*; do
		[ "$(cat "$f")" = "0000:0000:0000:0000:0000:ffff:$hex" ] || continue
		[ "$(cat "/sys/class/infiniband/$1/ports/1/gid_attrs/types/${f##*/}" 2>/dev/null)" = "${3:-RoCE v2}" ] &&
			{ echo "${f##*/}"; return 0; }
	done
	return 1
}
# Run a server/client pair of an ibv_*/ib_* tool on loopback: NAME ARGS...
pair() {
	"$@" >/tmp/server.out 2>&1 &
	spid=$!
	sleep 1
	"$@" 127.0.0.1 >/tmp/client.out 2>&1
	crc=$?
	wait $spid
	src=$?
	echo "--- server"; cat /tmp/server.out
	echo "--- client"; cat /tmp/client.out
	[ $crc -eq 0 ] && [ $src -eq 0 ]
}

# The loopback frontend's RDMA address: the guest's own on eth0, under
# rxe0 (ib_back's policy lets it source traffic from that GID only).
LOOP_RDMA_IP=10.0.2.15
# Load the backend (serving rxe0, with its service daemon) and the
# frontend, which registers xib0.
xenib_up() {
	insmod /lib/modules/xenib/ib_back.ko dev=rxe0 loop_rdma_ip=$LOOP_RDMA_IP || return 1
	xenib-backd >/tmp/xenib-backd.log 2>&1 &
	echo $! >/run/xenib-backd.pid
	insmod /lib/modules/xenib/ib_front.ko || return 1
	[ -d /sys/class/infiniband/xib0 ] || { echo "xib0 did not appear"; return 1; }
}
# Stop the backend's service daemon (it keeps ib_back loaded) and wait up
# to 10 s for it to be gone: it is seldom this shell's child (the guest's
# init or an earlier test started it), so `wait` cannot tell.
stop_backd() {
	[ -f /run/xenib-backd.pid ] || return 0
	p=$(cat /run/xenib-backd.pid)
	kill "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	for i in $(seq 50); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.2
	done
	rm -f /run/xenib-backd.pid
}
# Unload both: front, daemon, back.
xenib_down() {
	rmmod ib_front || return 1
	stop_backd
	# The daemon's file keeps ib_back busy until it is really gone.
	for i in 1 2 3 4 5 6 7 8 9 10; do
		rmmod ib_back 2>/dev/null && return 0
		sleep 0.2
	done
	rmmod ib_back
}
# The backend's counter NAME (see /dev/xenib_back).
back_counter() {
	awk -v k="$1" '$1 == k { print $2 }' /dev/xenib_back
}
# The real device holds no user objects: nothing leaked through the
# backend (its own counters aside, this is what the driver itself counts).
# Every user object belongs to a context, so no context means none left;
# the PD, CQ and QP the kernel's own agents keep on rxe0 are not ours.
rxe_clean() {
	res=$(rdma resource show rxe0)
	for k in ctx mr srq; do
		echo "$res" | grep -qw "$k 0" || { echo "rxe0 still has objects: $res"; return 1; }
	done
}

# Waits up to 10 s for the backend's counter $1 to be 0; fails if not.
counter_drops_to_zero() {
	for i in $(seq 50); do
		[ "$(back_counter $1)" = 0 ] && return 0
		sleep 0.2
	done
	fail "backend still holds $1: $(back_counter $1)"
}
# Waits up to 10 s for the backend to hold nothing (its counters) and
# checks that the real device kept nothing.
all_released() {
	for c in objects.contexts objects.servers objects.mrs objects.mws objects.mmaps objects.grants objects.fetched; do
		counter_drops_to_zero $c
	done
	rxe_clean || fail "the real device kept objects"
}

# Starts a process that holds RDMA objects on xib0 (an ibv_rc_pingpong
# server waiting for its client); sets $held to its pid.
hold_objects() {
	ibv_rc_pingpong -d xib0 -g "$(ipv4_gid_index xib0)" >/tmp/held.out 2>&1 &
	held=$!
	sleep 1
	[ "$(back_counter objects.contexts)" -ge 1 ]
}
# Waits up to 10 s for xib0 to be unregistered.
xib0_gone() {
	for i in $(seq 50); do
		[ -d /sys/class/infiniband/xib0 ] || return 0
		sleep 0.2
	done
	return 1
}
