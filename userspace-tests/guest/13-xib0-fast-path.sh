# SPDX-License-Identifier: GPL-2.0
# Posting receives and polling completions never reach the backend: a
# ping-pong of 400 iterations forwards exactly the same control requests
# as one of 20. Sends ring their doorbell in the doorbell page: no request
# either; only the backend's count of rung doorbells grows with the run.
. ./lib.sh
g=$(ipv4_gid_index xib0) || fail "no IPv4 GID on xib0"
snapshot() { awk '$1 ~ /^requests\./ { n += $2 } END { print n + 0 }' /dev/xenib_back; }
run() {
	c0=$(snapshot) k0=$(back_counter doorbells)
	pair timeout 60 ibv_rc_pingpong -d xib0 -g "$g" -n "$1" >/dev/null || fail "pingpong -n $1"
	echo "$(($(snapshot) - c0)) $(($(back_counter doorbells) - k0))"
}
set -- $(run 20); ctl20=$1 kick20=$2
set -- $(run 400); ctl400=$1 kick400=$2
echo "20 iterations: $ctl20 requests, $kick20 doorbells"
echo "400 iterations: $ctl400 requests, $kick400 doorbells"
[ "$ctl20" = "$ctl400" ] || fail "control requests grow with the number of iterations"
# Every send rings (the backend may take several rings at once: at most one
# per send, and many more for the longer run).
[ "$kick400" -gt "$kick20" ] && [ "$kick400" -le 800 ] || fail "unexpected doorbell count $kick400"
[ "$(back_counter requests.Kick)" = 0 ] || fail "sends still went through Kick requests"
