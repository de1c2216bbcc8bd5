# SPDX-License-Identifier: GPL-2.0
# Unmodified perftest over xib0: send/write/read/atomic latency and
# write/send bandwidth all complete.
. ./lib.sh
g=$(ipv4_gid_index xib0) || fail "no IPv4 GID on xib0"
for t in "ib_send_lat -s 2" "ib_write_lat -s 2" "ib_read_lat -s 2" "ib_atomic_lat" \
	 "ib_write_bw -s 65536" "ib_send_bw -s 65536"; do
	echo "== $t"
	# perftest's bandwidth report can fail on emulated time (r^2 < 0.9):
	# retry those, they say nothing about the device.
	ok=
	for try in 1 2 3; do
		if pair timeout 90 $t -d xib0 -x "$g" -n 200 -F; then ok=1; break; fi
		grep -q "Correlation coefficient\|produce a report" /tmp/client.out /tmp/server.out || break
	done
	[ -n "$ok" ] || fail "$t over xib0"
done
