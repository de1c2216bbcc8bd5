# SPDX-License-Identifier: GPL-2.0
# The guest half of bench/run: measures the native device (rxe0) and the
# paravirtual one (xib0) in this one boot, interleaved, ROUNDS times with
# the order alternating, and prints one `@...` line per measurement for
# bench/report.py. Usage (in the guest): guest.sh [--quick] [--pin-domus CPUS]
# ROUNDS; --pin-domus (Xen) pins both domUs' vCPUs to CPUS (xl vcpu-pin).
#
#   @perf  round= first= dev= test= size= iters= tries= status= <metrics>
#   @bench round= dev= test= ...                  (from xenib-bench)
#   @count round= dev=xib0 what= <backend request and busy_us deltas>
#   @evtchn round= path= n= median_us= ...       (Xen mode: one event-channel
#                                                  round trip, see evtchn())
#   @mpi   round= first= dev= test= size= iters= status= <metric>
#                                                 (Xen mode: MPI, see run_mpi())
#   @mpirun round= dev= status= rxe0_sent_pkts= doorbells=   (one per mpirun)
#
# For xib0 every measurement also gets the backend's request counters
# (/dev/xenib_back) before and after, so kicks per operation are known.
#
# In Xen mode (guest-run --xen --domain dom0) it runs in dom0: rxe0 pairs
# are two processes in dom0, xib0 pairs a server in domu2 and a client in
# domu1 (userspace-tests/xen/lib.sh), and xenib-bench on xib0 runs in
# domu1; the domUs wait until dom0 is done.
if [ -n "$XENIB_DOMAIN" ] && [ "$XENIB_DOMAIN" != dom0 ]; then
	i=0
	until [ -f /tmp/xenib-done ] || [ $i -ge 4000 ]; do sleep 0.5; i=$((i + 1)); done
	exit 0
fi
. /xenib/tests/lib.sh
xen=
if [ "$XENIB_DOMAIN" = dom0 ]; then
	xen=1
	. /xenib/xen-tests/lib.sh
	trap 'for d in domu1 domu2; do xrun $d touch /tmp/xenib-done >/dev/null 2>&1; done' EXIT
fi

quick=
[ "$1" = --quick ] && { quick=1; shift; }
if [ "$1" = --pin-domus ]; then
	for d in domu1 domu2; do xl vcpu-pin $d all "$2" || exit 1; done
	shift 2
fi
rounds=${1:-3}

gid_rxe0=$(ipv4_gid_index rxe0) || { echo "no IPv4 GID on rxe0"; exit 1; }
if [ -n "$xen" ]; then
	gid_xib0=$GID
else
	gid_xib0=$(ipv4_gid_index xib0) || { echo "no IPv4 GID on xib0"; exit 1; }
fi

if [ -n "$quick" ]; then
	LAT_SIZES="2 8192"
	BW_SIZES="2:500 1048576:20"
	LAT_ITERS=300
else
	LAT_SIZES="2 64 1024 8192"
	# SIZE:ITERATIONS, about 1-2 s of transfer each on TCG
	BW_SIZES="2:2000 4096:2000 65536:500 1048576:40 4194304:12"
	LAT_ITERS=500
fi

# The backend's request counters, as "Op count" lines, and the doorbells
# rung through the doorbell page as "Doorbell count".
snap() {
	awk '$1 ~ /^requests\./ { sub(/^requests\./, "", $1); print $1, $2 }
	     $1 ~ /^busy_us\./ { print $1, $2 }
	     $1 == "doorbells" { print "Doorbell", $2 }' /dev/xenib_back >"$1"
}
# Nonzero differences of two snapshots: " Op=n Op=n ...".
delta() {
	awk 'NR == FNR { a[$1] = $2; next } { d = $2 - a[$1]; if (d) printf " %s=%d", $1, d }' "$1" "$2"
}

# perftest's TCP port (18515 = 0x4853) is listening: the server is ready.
listening() {
	grep -qs ':4853 [0-9A-F:]* 0A ' /proc/net/tcp /proc/net/tcp6
}

# One perftest client/server pair on loopback; the client's output in
# /tmp/client.out. Returns the client's status (or the server's).
perf_pair() {
	if [ -n "$xen" ] && [ "$dev" = xib0 ]; then
		xpair "$@" >/dev/null
		return
	fi
	"$@" >/tmp/server.out 2>&1 &
	spid=$!
	i=0
	while ! listening && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	"$@" 127.0.0.1 >/tmp/client.out 2>&1
	crc=$?
	# A server whose client died waits for nobody: don't wait for it long.
	(sleep 20; kill $spid 2>/dev/null) &
	wd=$!
	wait $spid
	src=$?
	kill $wd 2>/dev/null
	wait $wd 2>/dev/null
	[ $crc -eq 0 ] && [ $src -eq 0 ]
}

# The result line of perftest's report (after the "#bytes" header).
result_line() {
	awk 'h && NF >= 5 && $1 ~ /^[0-9]+$/ { print; exit } /#bytes/ { h = 1 }' /tmp/client.out
}

# Whether perftest's result line (bytes iters ...) holds impossible values.
bogus() {
	echo "$*" | awk '{ for (i = 3; i <= NF; i++) if ($i ~ /inf|nan/) exit 0
		if ($3 + 0 == 0 && $4 + 0 == 0) exit 0; exit 1 }'
}

# run_perf ROUND FIRST DEV TEST SIZE ITERS [EXTRA]: one measurement, retried
# up to 3 times when perftest could not measure emulated time.
run_perf() {
	r=$1 first=$2 dev=$3 t=$4 size=$5 iters=$6 extra=$7 line=
	eval g=\$gid_$dev
	tries=0 status=fail
	while [ $tries -lt 3 ]; do
		tries=$((tries + 1))
		[ $dev = xib0 ] && snap /tmp/c0
		if perf_pair timeout 60 $t -d $dev -x $g -s $size -n $iters -F $extra; then
			line=$(result_line)
			status=ok
			[ -n "$line" ] || { status=noreport; break; }
			# A clock calibration gone wrong also shows as inf/nan or
			# a rate of 0: measure again.
			bogus $line || break
			status=clock
			continue
		fi
		grep -qs "Correlation coefficient\|produce a report" /tmp/client.out /tmp/server.out || break
		status=clock
	done
	case $t in
	*_lat) set -- $line; m="lat_min=$3 lat_typical=$5 lat_avg=$6 lat_p99=$8" ;;
	*) set -- $line; m="bw_peak=$3 bw_avg=$4 msg_rate=$5" ;;
	esac
	[ $status = ok ] || m=
	k=
	if [ $dev = xib0 ]; then
		snap /tmp/c1
		k=$(delta /tmp/c0 /tmp/c1)
	fi
	tag=$t
	[ -n "$extra" ] && tag="$t$(echo "$extra" | tr -d ' ')"
	echo "@perf round=$r first=$first dev=$dev test=$tag size=$size iters=$iters tries=$tries status=$status $m$k"
	if [ $status != ok ]; then
		echo "--- $dev $t -s $size: client"; tail -15 /tmp/client.out
		echo "--- server"; tail -15 /tmp/server.out
	fi
}

run_bench() {
	r=$1 dev=$2 t=$3
	eval g=\$gid_$dev
	[ $dev = xib0 ] && snap /tmp/c0
	if [ -n "$xen" ] && [ $dev = xib0 ]; then
		xrun domu1 /xenib/xenib-bench --dev $dev --gid-index $g ${quick:+--quick} $t
	else
		/xenib/xenib-bench --dev $dev --gid-index $g ${quick:+--quick} $t
	fi 2>&1 | sed "s/^@bench /@bench round=$r /"
	if [ $dev = xib0 ]; then
		snap /tmp/c1
		echo "@count round=$r dev=xib0 what=$t$(delta /tmp/c0 /tmp/c1)"
	fi
}

# The cheapest cross-domain round trip, the unit the report measures xib0's
# excess in (xenib-evtchn-pingpong, bare event channels, no ring): domu1 to
# an echo in dom0 (path=domu-dom0: a verb's front -> back -> front), and
# domu1 to an echo in domu2 through a relay in dom0 (path=domu-domu: a
# message between the two xib0s and its answer).
evtchn() {
	r=$1 pp=/xenib/xenib-evtchn-pingpong n=1000
	[ -n "$quick" ] && n=300
	d1=$(xl domid domu1) d2=$(xl domid domu2)
	$pp echo "$d1" >/tmp/evtchn.out 2>&1 &
	epid=$!
	if wait_for "grep -q ready /tmp/evtchn.out" 5; then
		port=$(awk '$1 == "port" { print $2 }' /tmp/evtchn.out)
		xrun domu1 "$pp ping 0 $port $n" | sed "s/^@evtchn /@evtchn round=$r path=domu-dom0 /"
	fi
	kill $epid 2>/dev/null
	wait $epid 2>/dev/null
	$pp relay "$d1" "$d2" >/tmp/evtchn.out 2>&1 &
	epid=$!
	if wait_for "grep -q ready /tmp/evtchn.out" 5; then
		set -- $(awk '$1 == "ports" { print $2, $3 }' /tmp/evtchn.out)
		# domu2's echo must be bound before domu1 pings.
		xrun domu2 "$pp echo 0 $2 >/tmp/evtchn.out 2>&1 & echo \$! >/tmp/evtchn.pid
			for i in \$(seq 50); do grep -q ready /tmp/evtchn.out && exit 0; sleep 0.1; done; exit 1" &&
			xrun domu1 "$pp ping 0 $1 $n" | sed "s/^@evtchn /@evtchn round=$r path=domu-domu /"
		xrun domu2 'kill $(cat /tmp/evtchn.pid)' >/dev/null
	fi
	kill $epid 2>/dev/null
	wait $epid 2>/dev/null
}

# The MPI benchmark (Xen mode): xenib-mpi-pingpong --bench
# (userspace-tests/mpi/pingpong.c: latency, bandwidth, MPI_Allreduce over
# sizes), 2 ranks over Open MPI's UCX PML with RDMA transports only, no
# shared memory: natively both ranks in dom0 on rxe0; paravirtually rank 0
# in domu1 and rank 1 in domu2, each on its xib0, launched as
# userspace-tests/xen/15-mpi.sh does. rxe0's sent packets and the backend's
# doorbells around each run show which device carried it (a native run
# rings no doorbell of ours), and UCX's endpoint configurations (its info
# log) which transports the ranks' endpoints used (tls=: rc_verbs/rxe0:1
# natively, rc_verbs/xib0:1 paravirtually; a shared-memory transport
# would show there, and rxe0 would send few packets).
# Both halves use GID 0 ($GID: the link-local IPv6 GID of dom0's rxe0,
# which the domUs' xib0 mirror). Not the IPv4 GID natively: with it,
# UCX's UD endpoints between the two ranks in dom0 time out in the first
# MPI_Barrier ("ud_ep.c:276 Fatal: UD endpoint ...: unhandled timeout
# error", abort, exit 134, about 50 rxe0 packets), while ibv_ud_pingpong
# over the same GID and rxe0 works; with GID 0 UCX wires up rc_verbs.
# A local mpirun never calls the rsh agent, but Open MPI wants one that exists.
MPI_ENV="OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 UCX_TLS=rc_verbs,ud_verbs,self UCX_WARN_UNUSED_ENV_VARS=n UCX_LOG_LEVEL=info"
MPI_ARGS="--mca plm_rsh_agent /xenib/xen/xrsh --mca pml ucx --mca btl self --mca osc ^ucx -x UCX_NET_DEVICES -x UCX_IB_GID_INDEX -x UCX_TLS -x UCX_WARN_UNUSED_ENV_VARS -x UCX_LOG_LEVEL"
# The transports of UCX's endpoints in /tmp/mpi.out, other than self.
mpi_tls() {
	grep -o 'ep_cfg\[[0-9]*\]: tag([^)]*)' /tmp/mpi.out | sed 's/.*tag(//; s/)$//' |
		tr ' ' '\n' | grep -v '^self/' | sort -u | tr '\n' , | sed 's/,$//'
}
rxe_sent() {
	cat /sys/class/infiniband/rxe0/ports/1/hw_counters/sent_pkts 2>/dev/null || echo 0
}
run_mpi() {
	r=$1 first=$2 dev=$3
	# Open MPI refuses a node named "(none)", dom0's name in this image.
	[ "$(hostname)" != "(none)" ] || hostname dom0
	prog="/xenib/xenib-mpi-pingpong --bench${quick:+ --quick}"
	for attempt in 1 2; do
		p0=$(rxe_sent) d0=$(back_counter doorbells)
		if [ $dev = xib0 ]; then
			xrun domu1 "export $MPI_ENV UCX_NET_DEVICES=xib0:1 UCX_IB_GID_INDEX=$GID; \
				timeout 400 mpirun -np 2 --host $(ip_of domu1),$(ip_of domu2) \
				--mca oob_tcp_if_include eth0 $MPI_ARGS $prog"
		else
			(export $MPI_ENV UCX_NET_DEVICES=rxe0:1 UCX_IB_GID_INDEX=$GID
			 timeout 400 mpirun -np 2 --host localhost:2 $MPI_ARGS $prog)
		fi >/tmp/mpi.out 2>&1
		rc=$?
		echo "@mpirun round=$r dev=$dev attempt=$attempt status=$rc rxe0_sent_pkts=$(($(rxe_sent) - p0)) doorbells=$(($(back_counter doorbells) - d0)) tls=$(mpi_tls)"
		grep -q '^@mpi ' /tmp/mpi.out && break
		echo "--- mpirun on $dev, attempt $attempt, exit $rc"; mpi_errors
	done
	sed -n "s/^@mpi /@mpi round=$r first=$first dev=$dev /p" /tmp/mpi.out
	[ $rc -eq 0 ] || { echo "--- mpirun on $dev exited $rc"; mpi_errors; }
}
# The end of a failed mpirun's output without UCX's info lines and the
# backtraces' frames (the error itself is above them).
mpi_errors() {
	grep -v -e ' UCX  INFO ' -e '^\[[^]]*\] \[ *[0-9]*\] ' -e '^ *[0-9][0-9]*  /' /tmp/mpi.out | tail -25
}

echo "@env nproc=$(nproc) kernel=$(uname -r) rounds=$rounds quick=${quick:-0} mode=$([ -n "$xen" ] && echo xen || echo bare)"
# Where the vCPUs may run: the layout the Xen numbers belong to.
[ -n "$xen" ] && xl vcpu-list | sed 's/^/# /'
r=1
while [ $r -le "$rounds" ]; do
	# Alternate which device goes first, per round.
	if [ $((r % 2)) = 1 ]; then order="rxe0 xib0"; else order="xib0 rxe0"; fi
	first=${order%% *}
	echo "# round $r of $rounds: $order"
	[ -n "$xen" ] && evtchn $r
	for t in ib_send_lat ib_write_lat ib_read_lat; do
		for s in $LAT_SIZES; do
			for d in $order; do run_perf $r $first $d $t $s $LAT_ITERS; done
		done
	done
	for t in ib_write_bw ib_send_bw ib_read_bw; do
		for si in $BW_SIZES; do
			for d in $order; do run_perf $r $first $d $t ${si%:*} ${si#*:}; done
		done
	done
	for t in reg cq qp qp-rts post; do
		for d in $order; do run_bench $r $d $t; done
	done
	if [ -n "$xen" ]; then
		for d in $order; do run_mpi $r $first $d; done
	fi
	r=$((r + 1))
done
echo "@backend"
cat /dev/xenib_back
exit 0
