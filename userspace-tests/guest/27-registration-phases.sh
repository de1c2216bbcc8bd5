# SPDX-License-Identifier: GPL-2.0
# The registration phase counters (phase_us.*, phase_n.*) of both sides
# count every registration once, and add up to no more than the time
# that encloses them: the backend's phases fit in its busy time for the
# RegMr/DeregMr requests, and the backend's busy time in the front's
# request phase (one clock: front and back share the kernel here). A
# deregistration that keeps its pages for the registration cache
# (DeregMrKeep) counts as one; it unmaps nothing.
. ./lib.sh
front=/sys/module/ib_front/parameters/counters
[ -r $front ] || fail "no $front"
g=$(ipv4_gid_index xib0) || fail "no IPv4 GID on xib0"
front_counter() { awk -v k="$1" '$1 == k { print $2 }' $front; }
# A backend counter, 0 if not shown (busy_us.* only once the op ran).
back0() { v=$(back_counter "$1"); echo "${v:-0}"; }
# Sums of phase_us VERB.PHASE... of a side ("front" or "back").
phase_sum() {
	side=$1; shift
	s=0
	for p in "$@"; do
		v=$(${side}_counter "phase_us.$p"); s=$((s + ${v:-0}))
	done
	echo $s
}
snap() {
	regs=$(back_counter requests.RegMr)
	deregs=$(( $(back0 requests.DeregMr) + $(back0 requests.DeregMrKeep) ))
	busy_reg=$(back_counter busy_us.RegMr)
	busy_dereg=$(( $(back0 busy_us.DeregMr) + $(back0 busy_us.DeregMrKeep) ))
	n_front=$(front_counter phase_n.reg.pin) n_back=$(back_counter phase_n.reg.driver)
	n_dfront=$(front_counter phase_n.dereg.request) n_dback=$(back_counter phase_n.dereg.driver)
	back_reg=$(phase_sum back reg.list reg.map_grants reg.map_service reg.driver)
	back_dereg=$(phase_sum back dereg.driver dereg.unmap)
	front_req=$(phase_sum front reg.request)
	echo "${regs:-0} ${deregs:-0} ${busy_reg:-0} ${busy_dereg:-0} ${n_front:-0} ${n_back:-0}" \
		"${n_dfront:-0} ${n_dback:-0} $back_reg $back_dereg $front_req"
}
b=$(snap)
pair timeout 60 ibv_rc_pingpong -d xib0 -g "$g" -n 20 >/dev/null || fail "pingpong"
a=$(snap)
echo "before: $b"
echo "after:  $a"
# The differences, in snap's order.
set -- $(echo "$b $a" | awk '{ for (i = 1; i <= NF / 2; i++) printf "%d ", $(i + NF / 2) - $i }')
regs=$1 deregs=$2 busy_reg=$3 busy_dereg=$4 back_reg=$9 back_dereg=${10} front_req=${11}
[ "$regs" -ge 2 ] || fail "only $regs RegMr requests for two processes"
[ "$5" = "$regs" ] && [ "$6" = "$regs" ] || fail "phases counted $5 (front), $6 (back) registrations of $regs"
[ "$7" = "$deregs" ] && [ "$8" = "$deregs" ] || fail "phases counted $7 (front), $8 (back) deregistrations of $deregs"
# Registering pages takes time on both sides: a phase clock that never
# ran would pass the bounds below.
[ "$back_reg" -gt 0 ] && [ "$front_req" -gt 0 ] ||
	fail "phase times not counted: backend $back_reg us, front request $front_req us"
# Each counter is summed in ns and shown in µs: allow 1 µs per counter.
[ "$back_reg" -le $((busy_reg + 5)) ] || fail "backend reg phases $back_reg us > its busy time $busy_reg us"
[ "$back_dereg" -le $((busy_dereg + 3)) ] || fail "backend dereg phases $back_dereg us > its busy time $busy_dereg us"
[ "$busy_reg" -le $((front_req + 2)) ] || fail "backend busy $busy_reg us > the front's request phase $front_req us"
echo "$regs registrations: backend phases $back_reg us of $busy_reg us busy, front request phase $front_req us"
