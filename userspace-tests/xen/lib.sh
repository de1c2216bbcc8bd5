# SPDX-License-Identifier: GPL-2.0
# Helpers for the Xen-mode tests (sourced). They run in dom0, which drives
# the domUs through their test shells (scripts/xen/rexec, port 7300).
KSFT_SKIP=4
fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "SKIP: $*"; exit $KSFT_SKIP; }
ip_of() {
	case $1 in dom0) echo 10.0.3.1 ;; domu1) echo 10.0.3.11 ;; domu2) echo 10.0.3.12 ;; esac
}
# The Xen guest type of DOMAIN (domu1 or domu2): pv or pvh.
guest_type_of() {
	case $1 in
	domu1) echo "${XENIB_GUEST_TYPES%%,*}" ;;
	domu2) echo "${XENIB_GUEST_TYPES#*,}" ;;
	esac
}
# The index of the GID that the domUs' xib0 share with rxe0 (see
# Documentation/admin-guide.rst, "Addresses and GIDs").
GID=0

# Runs COMMAND (a shell command line) in DOMAIN, prints its output, returns
# its exit status (255 if the domain could not be reached).
xrun() { # DOMAIN COMMAND...
	dom=$1; shift
	# One line (rexec): a script's newlines go as RS.
	out=$({ printf '%s' "$*" | tr '\n' '\036'; echo; } | nc -w 10 "$(ip_of "$dom")" 7300 2>&1)
	rc=$(printf '%s\n' "$out" | sed -n 's/^XENIB-RC \([0-9]*\)$/\1/p' | tail -1)
	printf '%s\n' "$out" | grep -v '^XENIB-RC '
	return "${rc:-255}"
}

# Waits up to 30 s for DOMAIN's xib0 to be there (up: also its uverbs
# device, which libibverbs lists and which comes after the ib device's
# sysfs directory) or not (gone).
xib0() { # DOMAIN up|gone
	case $2 in
	up) t="grep -qsx xib0 /sys/class/infiniband_verbs/uverbs*/ibdev" ;;
	*) t="[ ! -d /sys/class/infiniband/xib0 ]" ;;
	esac
	xrun "$1" "for i in \$(seq 150); do $t && exit 0; sleep 0.2; done; exit 1" >/dev/null
}

# Detaches DOMAIN's device and attaches it again with the given
# xenib-attach options (e.g. --rdma-ip ADDR); waits for xib0 each time.
attach_as() { # DOMAIN [--rdma-ip ADDR]...
	d=$1; shift
	xenib-attach detach "$d" || fail "detach $d"
	xib0 "$d" gone || fail "$d: xib0 still there after detach"
	XENIB_ATTACH_WAIT=30 xenib-attach attach "$d" "$@" || fail "attach $d $*"
	xib0 "$d" up || fail "$d: no xib0 after attach $*"
}

# The backend's counter NAME (see /dev/xenib_back).
back_counter() {
	awk -v k="$1" '$1 == k { print $2 }' /dev/xenib_back
}
# Waits up to $2 seconds (default 10) for the shell condition $1.
wait_for() {
	i=0
	until eval "$1"; do
		[ "$i" -ge "$((${2:-10} * 5))" ] && return 1
		sleep 0.2
		i=$((i + 1))
	done
}

# Runs a server/client pair of an ibv_*/ib_* tool: the server in domu2, the
# client in domu1 (given domu2's address). An attempt whose either side
# timed out, died of a signal or could not be reached (xrun's 255: Xen
# printing a debug-key dump to the emulated serial console stalls the
# domains for seconds), or whose perftest report failed on emulated time,
# is retried (at most 3); any other failure is final.
xpair() { # TOOL ARGS...
	for attempt in 1 2 3; do
		port=$((18600 + attempt + $(date +%s) % 100 * 4))
		xrun domu2 "timeout 120 $* -p $port" >/tmp/server.out 2>&1 &
		spid=$!
		sleep 2
		xrun domu1 "timeout 120 $* -p $port $(ip_of domu2)" >/tmp/client.out 2>&1
		crc=$?
		wait $spid
		src=$?
		echo "--- server (domu2), attempt $attempt, exit $src"; cat /tmp/server.out
		echo "--- client (domu1), attempt $attempt, exit $crc"; cat /tmp/client.out
		[ $crc -eq 0 ] && [ $src -eq 0 ] && return 0
		# perftest's report fails on emulated time (r^2 < 0.9): retry, it
		# says nothing about the device.
		grep -q "Correlation coefficient\|produce a report" /tmp/client.out /tmp/server.out &&
			continue
		# 124: timeout (the other side died); >128: killed by a signal;
		# 255: not reached.
		case "$crc:$src" in *12[4-9]*|*13[0-9]*|*14[0-9]*|*255*) continue ;; esac
		return 1
	done
	return 1
}
