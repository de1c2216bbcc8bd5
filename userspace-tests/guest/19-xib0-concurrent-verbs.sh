# SPDX-License-Identifier: GPL-2.0
# Four processes issue control verbs on xib0 at once (create/modify/destroy
# QPs, CQs, register and deregister memory): every verb of every process
# completes, the backend served them all and accounts their time, and
# nothing is left behind. On two vCPUs the callers keep interleaving
# polling for their responses, sleeping and being woken, so a lost
# notification (a ring left without its event index armed while someone
# sleeps) hangs a process and fails the test.
. ./lib.sh
g=$(ipv4_gid_index xib0) || fail "no IPv4 GID on xib0"
count() { awk -v k="$1" '$1 == k { print $2 + 0; found = 1 } END { if (!found) print 0 }' /dev/xenib_back; }
# Registrations: new ones and those over kept pages (the registration cache).
regs() { echo $(($(count requests.RegMr) + $(count requests.RegMrCached))); }
qp0=$(count requests.CreateQp) mr0=$(regs) busy0=$(count busy_us.ModifyQp)
pids=
for i in 1 2 3 4; do
	timeout 120 /xenib/xenib-bench --dev xib0 --gid-index "$g" --quick qp-rts cq reg qp \
		>/tmp/concurrent.$i 2>&1 &
	pids="$pids $!"
done
i=0
for p in $pids; do
	i=$((i + 1))
	wait "$p" || { tail -5 /tmp/concurrent.$i; fail "process $i exited with status $?"; }
	lines=$(grep -c '^@bench ' /tmp/concurrent.$i)
	# reg: 5 sizes x (first, repeated); qp-rts, cq, qp: one line each.
	[ "$lines" = 13 ] || { cat /tmp/concurrent.$i; fail "process $i reported $lines of 13 measurements"; }
done
qps=$(($(count requests.CreateQp) - qp0)) mrs=$(($(regs) - mr0))
busy=$(($(count busy_us.ModifyQp) - busy0))
echo "4 processes: $qps QPs created, $mrs MRs registered; backend busy $busy us in ModifyQp"
# In --quick mode each process creates 25 + 37 QPs (qp-rts, qp) and
# registers 52 MRs (reg).
[ "$qps" -ge 200 ] || fail "the backend created $qps QPs, expected at least 200"
[ "$mrs" -ge 200 ] || fail "the backend registered $mrs MRs, expected at least 200"
[ "$busy" -gt 0 ] || fail "the backend accounted no time to ModifyQp"
for c in objects.contexts objects.mrs objects.mmaps objects.grants objects.cached; do
	[ "$(back_counter $c)" = 0 ] || fail "the backend still holds $c: $(back_counter $c)"
done
rxe_clean || fail "the real device kept objects"
