#!/bin/sh
# 1000 connect/disconnect cycles of domu1's vrdma device, each with a
# live process: domu1 binds the device to ib_front, starts a pingpong
# server on xib0 (its context, PD, MR, CQ and QP made, it waits for a
# peer), and unbinds the device under it. Afterwards dom0 holds no
# context, MR, grant, mapping, fetched or ballooned page of domu1's, rxe
# holds as many objects as before, no ballooned page was lost, and
# domu1's xib0 carries traffic to domu2. A cycle takes about 1.5 s under
# TCG; XENIB_CYCLES=N (an argument of the job) runs fewer.
# test-timeout: 3000
. ./lib.sh
N=${XENIB_CYCLES:-1000}
# How many of DOMID's grant entries are mapped (Xen's 'g' debug key): the
# hypervisor's own count of what dom0 (and netback) hold of the domU.
active_grants() { # DOMID
	xl dmesg -c >/dev/null
	xl debug-keys g
	xl dmesg -c | awk -v d="d$1" '
		/grant-table for remote/ { on = ($0 ~ ("remote " d " ")) }
		on && /\[0x[0-9a-f]+\]/ { n++ }
		END { print n + 0 }'
}
d=$(xl domid domu1)
grants0=$(active_grants "$d")
[ "$grants0" -gt 0 ] || fail "no active grant of domu1's: the count does not work"
leaked0=$(back_counter xen.pages_leaked)
rxe0=$(rdma resource show | grep " rxe0:")
xrun domu1 "
	cycle=0 start=\$(date +%s)
	# xib0 as libibverbs lists it: its uverbs device is there.
	up() { for i in \$(seq 600); do grep -qsx xib0 /sys/class/infiniband_verbs/uverbs*/ibdev && return 0; sleep 0.05; done; return 1; }
	# The server listens (TCP port 18800) once its verbs objects exist.
	listening() { for i in \$(seq 600); do grep -q ':4970 0*:0000 0A' /proc/net/tcp /proc/net/tcp6 2>/dev/null && return 0; sleep 0.05; done; return 1; }
	while [ \$cycle -lt $N ]; do
		cycle=\$((cycle + 1))
		up || { echo \"cycle \$cycle: no xib0\"; exit 1; }
		ibv_rc_pingpong -d xib0 -g $GID -p 18800 >/tmp/cycle.out 2>&1 &
		pid=\$!
		listening || { echo \"cycle \$cycle: the server did not start: \$(cat /tmp/cycle.out)\"; exit 1; }
		echo vrdma-0 >/sys/bus/xen/drivers/vrdma/unbind || { echo \"cycle \$cycle: unbind\"; exit 1; }
		[ -d /sys/class/infiniband/xib0 ] && { echo \"cycle \$cycle: xib0 still there\"; exit 1; }
		{ kill \$pid; wait \$pid; } 2>/dev/null
		echo vrdma-0 >/sys/bus/xen/drivers/vrdma/bind || { echo \"cycle \$cycle: bind\"; exit 1; }
		[ \$((cycle % 100)) -eq 0 ] && echo \"\$cycle cycles\"
	done
	up || { echo 'no xib0 after the cycles'; exit 1; }
	echo \"\$cycle cycles done in \$((\$(date +%s) - start)) s\"
" || fail "connect/disconnect cycles in domu1"
for c in objects.contexts objects.mrs objects.mmaps objects.grants objects.fetched xen.pages_in_use; do
	wait_for '[ "$(back_counter $c)" -eq 0 ]' || fail "dom0 still holds $c: $(back_counter $c)"
done
[ "$(back_counter objects.frontends)" -eq 2 ] || fail "frontends: $(back_counter objects.frontends)"
[ "$(back_counter xen.pages_leaked)" = "$leaked0" ] ||
	fail "dom0 lost ballooned pages: $(back_counter xen.pages_leaked) (was $leaked0)"
[ "$(rdma resource show | grep " rxe0:")" = "$rxe0" ] ||
	fail "rxe's objects changed: $(rdma resource show | grep " rxe0:") (was $rxe0)"
grants=$(active_grants "$d")
[ "$grants" -eq "$grants0" ] || fail "$grants of domu1's grants are mapped, $grants0 before the cycles"
echo "rxe0: $rxe0; domu1's mapped grants: $grants"
xpair ibv_rc_pingpong -d xib0 -g $GID -n 100 -c || fail "traffic between the domUs after the cycles"
