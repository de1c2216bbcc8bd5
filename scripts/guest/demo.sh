#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs inside the guest (scripts/demo): unmodified rdma-core programs over
# the paravirtual device xib0 when it is there, and over native rxe0 for
# comparison.
. /xenib/tests/lib.sh
devs="rxe0"
[ -d /sys/class/infiniband/xib0 ] && devs="xib0 rxe0"
echo "== RDMA devices in the guest"
ibv_devices
before=$(awk '$1 ~ /^requests\./ { n += $2 } END { print n + 0 }' /dev/xenib_back 2>/dev/null)
kicks0=$(back_counter doorbells 2>/dev/null)
for d in $devs; do
	g=$(ipv4_gid_index "$d") || { echo "$d: no IPv4 GID"; exit 1; }
	echo
	echo "== $d: ibv_rc_pingpong"
	pair ibv_rc_pingpong -d "$d" -g "$g" -n 1000 -s 4096 >/tmp/pp.out || { cat /tmp/pp.out; exit 1; }
	grep -E 'bytes in|iters in' /tmp/client.out
	echo
	echo "== $d: ib_send_lat, 2 bytes (perftest; TCG emulated CPU, compare ratios only)"
	pair ib_send_lat -d "$d" -x "$g" -s 2 -n 1000 >/tmp/lat.out || { cat /tmp/lat.out; exit 1; }
	sed -n '/#bytes/,/^-----/p' /tmp/client.out | head -3
done

if [ -e /dev/xenib_back ]; then
	after=$(awk '$1 ~ /^requests\./ { n += $2 } END { print n + 0 }' /dev/xenib_back)
	kicks=$(( $(back_counter doorbells) - kicks0 ))
	echo
	echo "== what crossed the ring to ib_back for all of the above on xib0"
	echo "$((after - before)) requests (setup and teardown), and $kicks send doorbells"
	echo "rung in the shared doorbell page; receives were posted and completions"
	echo "polled without any request."
	grep -v " 0$" /dev/xenib_back | grep "^requests\." | sed 's/^requests\./  /'
fi
