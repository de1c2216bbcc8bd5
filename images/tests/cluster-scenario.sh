#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# xenib-image on a 4-node Slurm cluster in network namespaces
# (scripts/cluster/cluster): deployment through sbatch + srun --mpi=pmix,
# warm redeployment, a damaged cached chunk, a delta deployment, pins and
# gc, and a node killed mid-broadcast (Slurm requeues the job); with
# GUEST_DIR (scripts/mkguest's output), first the small guest image that
# the Xen harness's domUs boot. Prints one "PASS: ..." or "FAIL: ..." line
# per assertion; exits non-zero if any failed. Needs root.
# XENIB_SCENARIO_KEEP=1 keeps the job outputs and logs.
#
#   cluster-scenario.sh XENIB_IMAGE_BINARY [GUEST_DIR]
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${1:?usage: cluster-scenario.sh XENIB_IMAGE_BINARY [GUEST_DIR]}
GUEST=${2:-}
CLUSTER=$ROOT/scripts/cluster/cluster
STATE=/run/xenib-cluster
NODES=4
WORK=$(mktemp -d /tmp/xenib-scenario.XXXXXX)
URL=http://10.250.9.1:8080/
CACHE=/var/cache/xenib/cluster-node/images

failed=0
check() { # NAME COMMAND...: PASS/FAIL line
	local name=$1
	shift
	if "$@"; then echo "PASS: $name"; else echo "FAIL: $name"; failed=$((failed + 1)); fi
}
cleanup() {
	if [[ -n ${XENIB_SCENARIO_KEEP:-} ]]; then
		cp -r "$STATE/log" "$WORK/" 2>/dev/null
		echo "  kept $WORK"
	fi
	"$CLUSTER" down
	[[ -n ${XENIB_SCENARIO_KEEP:-} ]] || rm -rf "$WORK"
}
trap cleanup EXIT
trap "exit 1" INT TERM

field() { # KEY LINE: value of KEY=... in a report line
	sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"
}

# deploy DIGEST NAME: one sbatch job over all nodes, fetch then extract;
# its output (one fetch line and the extracted files' sha256 per node,
# each prefixed with the node's name) goes to $WORK/NAME.out.
deploy() {
	local digest=$1 name=$2
	cat >"$WORK/$name.sbatch" <<-JOB
	#!/bin/bash
	#SBATCH -N $NODES --ntasks-per-node=1 -t 2 -o $WORK/$name.out
	export OMPI_MCA_pml=ob1 OMPI_MCA_btl=tcp,self OMPI_MCA_btl_tcp_if_include=10.250.9.0/24
	export OMPI_MCA_mpi_yield_when_idle=1 XENIB_IMAGE_CACHE=$CACHE
	srun --mpi=pmix --kill-on-bad-exit=1 bash -c '$BIN fetch $digest --from $URL | sed "s/^/\$SLURMD_NODENAME /"' || exit 1
	srun bash -c '$BIN extract $digest $CACHE/../deploy >/dev/null &&
		cd $CACHE/../deploy && sha256sum * | sed "s/^/\$SLURMD_NODENAME /"'
	JOB
	"$CLUSTER" run sbatch --wait -Q "$WORK/$name.sbatch" && return 0
	# Enough to tell a hang from a failure when it happens in CI.
	echo "  job $name failed; its output and the controller's last words:"
	tail -n 20 "$WORK/$name.out" | sed 's/^/    /'
	tail -n 20 "$STATE/log/slurmctld.log" | sed 's/^/    /'
	return 1
}

# identical NAME INPUTDIR: every node reports the inputs' sha256 for each file.
identical() {
	local name=$1 dir=$2 expected n
	expected=$(cd "$dir" && sha256sum * | sort)
	for n in $(seq "$NODES"); do
		[[ $(awk -v n="xn$n" '$1 == n && NF == 3 { print $2, $3 }' "$WORK/$name.out" | sort) == "$(sed 's/  / /' <<<"$expected")" ]] ||
			{ echo "  xn$n: files differ"; return 1; }
	done
}

fetch_lines() { grep -h 'xenib-image fetch:' "$WORK/$1.out"; }
# all_ranks NAME KEY VALUE: every rank's report has KEY=VALUE.
all_ranks() {
	local lines
	lines=$(fetch_lines "$1")
	[[ $(grep -c . <<<"$lines") -eq $NODES ]] || { echo "  $(grep -c . <<<"$lines") fetch lines"; return 1; }
	! grep -v "\b$2=$3\b" <<<"$lines" | grep -q . || { echo "  not all $2=$3:"; grep -v "\b$2=$3\b" <<<"$lines" | head -2; return 1; }
}
rank0() { fetch_lines "$1" | grep ' rank=0 '; }
storage_link_bytes() { "$CLUSTER" link-bytes | awk '$1 == "xenib-st.up" { print $2 }'; }

start=$SECONDS
"$CLUSTER" up "$NODES" || { echo "FAIL: images cluster: $NODES nodes up"; exit 1; }
echo "PASS: images cluster: $NODES nodes up"

python3 "$HERE/make-image.py" "$WORK/v1" && python3 "$HERE/make-image.py" "$WORK/v2" --variant v2
v1=$("$BIN" build "$WORK"/v1/* -o "$STATE/storage") && v2=$("$BIN" build "$WORK"/v2/* -o "$STATE/storage")
echo "$v1"
echo "$v2"
D1=$(field digest "$v1") D2=$(field digest "$v2")
image_bytes=$(field image_bytes "$v1") stored_bytes=$(field stored_bytes "$v1")
manifest_bytes=$(stat -c %s "$STATE/storage/manifests/$D1")

# 0. The small guest image (what the Xen harness's domUs boot) to every node.
if [[ -n $GUEST ]]; then
	mkdir -p "$WORK/guest"
	cp "$GUEST/vmlinuz" "$GUEST/initramfs.cpio" "$WORK/guest/"
	g=$("$BIN" build "$WORK"/guest/* -o "$STATE/storage")
	echo "$g"
	before=$(storage_link_bytes)
	deploy "$(field digest "$g")" guest
	check "images cluster: small guest image deployed to $NODES nodes" test $? -eq 0
	check "images cluster: small guest: kernel and initramfs byte-identical on all $NODES nodes" \
		identical guest "$WORK/guest"
	link=$(( $(storage_link_bytes) - before ))
	echo "  small guest: $(field image_bytes "$g") bytes, $(field stored_bytes "$g") stored (compressed chunks); storage link sent $link bytes"
	check "images cluster: small guest: at most 30 MB stored and sent" \
		test "$(field stored_bytes "$g")" -le 30000000
fi

# 1. Cold deployment.
before=$(storage_link_bytes)
deploy "$D1" cold
check "images cluster: cold deployment job succeeds" test $? -eq 0
check "images cluster: byte-identical files on all $NODES nodes" identical cold "$WORK/v1"
check "images cluster: cold: storage read once (rank 0: chunks + manifest = $((stored_bytes + manifest_bytes)) bytes)" \
	test "$(field storage_bytes "$(rank0 cold)")" = $((stored_bytes + manifest_bytes))
check "images cluster: cold: every node stored every chunk" all_ranks cold stored "$(field unique_chunks "$v1")"
link=$(( $(storage_link_bytes) - before ))
echo "  storage link sent $link bytes for a $image_bytes-byte image ($stored_bytes stored)"
check "images cluster: cold: storage link bytes <= 1.05 x image size" test $((link * 100)) -le $((image_bytes * 105))

# 2. Warm: nothing moves.
before=$(storage_link_bytes)
deploy "$D1" warm
check "images cluster: warm deployment job succeeds" test $? -eq 0
check "images cluster: warm: no chunk sent (union_chunks=0 on every node)" all_ranks warm union_chunks 0
check "images cluster: warm: no chunk stored anywhere (stored_all=0)" all_ranks warm stored_all 0
check "images cluster: warm: nothing read from storage" test "$(field storage_bytes "$(rank0 warm)")" = 0
link=$(( $(storage_link_bytes) - before ))
check "images cluster: warm: storage link quiet (<= 64 KiB, got $link)" test "$link" -le 65536

# 3. A damaged chunk on xn3 is detected and sent again (from rank 0's cache).
hash=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["chunks"][0]["hash"])' "$STATE/storage/manifests/$D1")
victim=$CACHE/chunks/${hash:0:2}/$hash
"$CLUSTER" exec xn3 python3 -c "
import sys; p = sys.argv[1]; b = bytearray(open(p, 'rb').read()); b[len(b) // 2] ^= 0xff; open(p, 'wb').write(b)" "$victim"
deploy "$D1" repair
check "images cluster: repair deployment job succeeds" test $? -eq 0
line=$(fetch_lines repair | grep '^xn3 ')
check "images cluster: damaged chunk on xn3 detected (corrupt=1) and stored again (stored=1)" \
	test "$(field corrupt "$line"),$(field stored "$line")" = 1,1
check "images cluster: repair: one chunk broadcast, none read from storage" \
	test "$(field union_chunks "$(rank0 repair)"),$(field storage_bytes "$(rank0 repair)")" = 1,0
check "images cluster: repair: files byte-identical again on all nodes" identical repair "$WORK/v1"

# 4. Delta: v2 differs from v1 in one 1 MiB region of one file.
deploy "$D2" delta
check "images cluster: delta deployment job succeeds" test $? -eq 0
check "images cluster: delta: v2 byte-identical on all nodes" identical delta "$WORK/v2"
sent=$(field union_bytes "$(rank0 delta)") read=$(field storage_bytes "$(rank0 delta)")
echo "  delta: broadcast $sent bytes, read $read from storage, image $image_bytes bytes"
check "images cluster: delta: bytes sent <= 10% of the image" test $((sent * 10)) -le "$image_bytes"
check "images cluster: delta: storage bytes <= 10% of the image" test $((read * 10)) -le "$image_bytes"

# 5. Pins and gc on one node: v2 pinned survives a zero budget, v1 goes.
"$CLUSTER" exec xn2 env XENIB_IMAGE_CACHE=$CACHE "$BIN" pin "$D2"
gc=$("$CLUSTER" exec xn2 env XENIB_IMAGE_CACHE=$CACHE "$BIN" gc --budget 0)
status=$("$CLUSTER" exec xn2 env XENIB_IMAGE_CACHE=$CACHE "$BIN" status)
echo "  $gc"
check "images cluster: gc --budget 0 keeps the pinned image whole and drops the other" \
	grep -q "^image $D2 .* complete pinned\$" <<<"$status"
check "images cluster: gc removed v1's manifest" test "$(grep -c '^image ' <<<"$status")" = 1

# 6. A node dies mid-broadcast: its link goes silent and its processes die
# (no RST reaches the others, as after a power loss). The MPI ranks cannot
# finish; Slurm declares the node down after SlurmdTimeout, ends the job
# (NODE_FAIL) and requeues it; the new run gets the other nodes (-N 3-4)
# and completes, reusing the chunks stored before the failure.
python3 "$HERE/make-image.py" "$WORK/v3" --variant v3
v3=$("$BIN" build "$WORK"/v3/* -o "$STATE/storage")
D3=$(field digest "$v3")
cat >"$WORK/kill.sbatch" <<-JOB
#!/bin/bash
#SBATCH -N 3-$NODES --ntasks-per-node=1 -t 2 --requeue --open-mode=append -o $WORK/kill.out
export OMPI_MCA_pml=ob1 OMPI_MCA_btl=tcp,self OMPI_MCA_btl_tcp_if_include=10.250.9.0/24
export OMPI_MCA_mpi_yield_when_idle=1 XENIB_IMAGE_CACHE=$CACHE
echo "run restart=\${SLURM_RESTART_COUNT:-0} nodes=\$SLURM_JOB_NODELIST"
srun --mpi=pmix --kill-on-bad-exit=1 bash -c '$BIN fetch $D3 --from $URL | sed "s/^/\$SLURMD_NODENAME /"' || exit 1
srun bash -c '$BIN extract $D3 $CACHE/../deploy >/dev/null &&
	cd $CACHE/../deploy && sha256sum * | sed "s/^/\$SLURMD_NODENAME /"'
JOB
# A slow last link keeps the broadcast going for seconds.
ip netns exec xenib-sw tc qdisc change dev p$NODES root tbf rate 20mbit burst 64kb latency 100ms
count_chunks() { "$CLUSTER" exec xn$NODES sh -c "find $CACHE/chunks -type f | wc -l" 2>/dev/null; }
baseline=$(count_chunks)
job=$("$CLUSTER" run sbatch --parsable "$WORK/kill.sbatch")
got=$baseline
for _ in $(seq 300); do
	got=$(count_chunks) || break
	((got > baseline)) && break
	sleep 0.1
done
ip -n xenib-n$NODES link set eth0 down
kill -KILL $(ip netns pids xenib-n$NODES) 2>/dev/null
received=$((got - baseline))
echo "  killed xn$NODES after it had received $received of $(field unique_chunks "$v3") chunks"
check "images cluster: kill: xn$NODES was killed mid-broadcast" \
	test "$received" -gt 0 -a "$received" -lt "$(field unique_chunks "$v3")"
# Slurm 22.05 holds a requeued job for 120 s before it is eligible again,
# so that the first run's srun and steps are gone before the job's step
# ids are reused. Like an admin, move its start to now as soon as no
# process but slurmd is left on the other nodes, so make check stays short.
first_run_left() {
	local i pid
	for i in $(seq $((NODES - 1))); do
		for pid in $(ip netns pids xenib-n$i); do
			[[ $(cat /proc/$pid/comm 2>/dev/null) == slurmd ]] || echo "$pid"
		done
	done
}
state= released=
for _ in $(seq 90); do
	info=$("$CLUSTER" run scontrol show job "$job" 2>/dev/null)
	state=$(grep -o 'JobState=[A-Z_]*' <<<"$info" | cut -d= -f2)
	[[ $state == COMPLETED || $state == FAILED || $state == TIMEOUT || $state == CANCELLED ]] && break
	if [[ -z $released && $state == PENDING && -z $(first_run_left) ]] && grep -q 'Restarts=1' <<<"$info"; then
		"$CLUSTER" run scontrol update JobId="$job" StartTime=now && released=1
	fi
	sleep 1
done
restarts=$("$CLUSTER" run scontrol show job "$job" | grep -o 'Restarts=[0-9]*' | cut -d= -f2)
echo "  job $job: $state after $restarts requeue(s)"; grep '^run ' "$WORK/kill.out" | sed 's/^/    /'
check "images cluster: kill: Slurm requeued the job once and it completed" test "$state/$restarts" = COMPLETED/1
check "images cluster: kill: xn$NODES is down" \
	grep -q down <<<"$("$CLUSTER" run sinfo -h -n xn$NODES -o %T)"
check "images cluster: kill: the rerun ran without xn$NODES" grep -qx "run restart=1 nodes=xn\[1-$((NODES - 1))\]" "$WORK/kill.out"
fetch_lines kill >"$WORK/kill.fetch"
check "images cluster: kill: the rerun reused the chunks stored before the failure (xn1 cached > 0)" \
	test "$(field cached "$(grep '^xn1 ' "$WORK/kill.fetch" | tail -1)")" -gt 0 2>/dev/null
NODES=$((NODES - 1)) check "images cluster: kill: v3 byte-identical on the $((NODES - 1)) remaining nodes" identical kill "$WORK/v3"

echo "  scenario took $((SECONDS - start)) s"
exit $((failed > 0))
