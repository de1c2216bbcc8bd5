# SPDX-License-Identifier: GPL-2.0
# Posting receives and polling completions never reach the backend: a
# ping-pong of 400 iterations forwards exactly the same control requests
# as one of 20; only the send doorbell ("Kick") grows with the run.
. ./lib.sh
g=$(ipv4_gid_index xib0) || fail "no IPv4 GID on xib0"
snapshot() { awk '$1 ~ /^requests\./ && $1 != "requests.Kick" { n += $2 } END { print n + 0 }' /dev/xenib_back; }
run() {
	c0=$(snapshot) k0=$(back_counter requests.Kick)
	pair timeout 60 ibv_rc_pingpong -d xib0 -g "$g" -n "$1" >/dev/null || fail "pingpong -n $1"
	echo "$(($(snapshot) - c0)) $(($(back_counter requests.Kick) - k0))"
}
set -- $(run 20); ctl20=$1 kick20=$2
set -- $(run 400); ctl400=$1 kick400=$2
echo "20 iterations: $ctl20 control requests, $kick20 kicks"
echo "400 iterations: $ctl400 control requests, $kick400 kicks"
[ "$ctl20" = "$ctl400" ] || fail "control requests grow with the number of iterations"
# One doorbell per send at most (the provider may batch).
[ "$kick400" -gt "$kick20" ] && [ "$kick400" -le 800 ] || fail "unexpected kick count $kick400"
