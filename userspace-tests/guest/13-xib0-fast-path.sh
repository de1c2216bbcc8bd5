# SPDX-License-Identifier: GPL-2.0
# Posting receives and polling completions never reach the backend: a
# ping-pong of 400 iterations forwards exactly the same control requests
# as one of 20. Sends ring their doorbell in the doorbell page: no request
# either; only the backend's count of rung doorbells grows with the run.
. ./lib.sh
g=$(ipv4_gid_index xib0) || fail "no IPv4 GID on xib0"
snapshot() { awk '$1 ~ /^requests\./ { n += $2 } END { print n + 0 }' /dev/xenib_back; }
# Each run's requests per operation (in /tmp/requests.N), to say which grew.
run() {
	grep '^requests\.' /dev/xenib_back >/tmp/requests.before
	c0=$(snapshot) k0=$(back_counter doorbells)
	pair timeout 60 ibv_rc_pingpong -d xib0 -g "$g" -n "$1" >/dev/null || fail "pingpong -n $1"
	echo "$(($(snapshot) - c0)) $(($(back_counter doorbells) - k0))"
	grep '^requests\.' /dev/xenib_back | paste -d' ' /tmp/requests.before - |
		awk '$4 != $2 { printf "%s %d ", $1, $4 - $2 }' >/tmp/requests.$1
}
# A first ping-pong, not counted: right after the device appears, the
# core's own queries of it may still be under way.
pair timeout 60 ibv_rc_pingpong -d xib0 -g "$g" -n 1 >/dev/null || fail "pingpong -n 1"
set -- $(run 20); ctl20=$1 kick20=$2
set -- $(run 400); ctl400=$1 kick400=$2
echo "20 iterations: $ctl20 requests, $kick20 doorbells"
echo "400 iterations: $ctl400 requests, $kick400 doorbells"
[ "$ctl20" = "$ctl400" ] ||
	fail "control requests grow with the number of iterations: $(cat /tmp/requests.20), then $(cat /tmp/requests.400)"
# Every send rings (the backend may take several rings at once: at most one
# per send, and many more for the longer run).
[ "$kick400" -gt "$kick20" ] && [ "$kick400" -le 800 ] || fail "unexpected doorbell count $kick400"
[ "$(back_counter requests.Kick)" = 0 ] || fail "sends still went through Kick requests"

# The queue regions of each CQ and QP come mapped and granted with its
# create response (the backend knows where rxe's response names them), so
# the provider's mmaps of them cost no request; a region whose pages do
# not all fit in the response (40 refs per object) gets the rest by Mmap.
# Both ways the data must arrive intact (-c checks every message), and
# every region must be released again.
m0=$(back_counter requests.Mmap)
cq0=$(back_counter requests.CreateCq) qp0=$(back_counter requests.CreateQp)
pair timeout 60 ibv_rc_pingpong -d xib0 -g "$g" -n 50 -c >/dev/null || fail "pingpong -c with small queues"
qps=$(($(back_counter requests.CreateQp) - qp0)) cqs=$(($(back_counter requests.CreateCq) - cq0))
fetched=$(($(back_counter requests.Mmap) - m0))
echo "small queues: $qps QPs and $cqs CQs created, $fetched Mmap requests"
[ "$qps" = 2 ] && [ "$cqs" -ge 2 ] || fail "expected 2 QPs and their CQs, got $qps and $cqs"
[ "$fetched" = 0 ] || fail "queue regions were fetched by $fetched Mmap requests"
counter_drops_to_zero objects.mmaps
m0=$(back_counter requests.Mmap)
pair timeout 120 ibv_rc_pingpong -d xib0 -g "$g" -n 50 -r 4096 -c >/dev/null ||
	fail "pingpong -c with queues larger than a create response carries"
fetched=$(($(back_counter requests.Mmap) - m0))
echo "large queues: $fetched Mmap requests"
[ "$fetched" -ge 2 ] || fail "large queues: expected the rest of their regions by Mmap, got $fetched requests"
counter_drops_to_zero objects.mmaps
