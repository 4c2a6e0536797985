# Shared by the shell tests of netctl (tests/cli/*.sh): a netd of the test's
# own on a socket in a temporary directory, started with --ready-fd and
# stopped (exit 0 asserted) at exit, plus small helpers. Every wait is on
# an event (a line on a FIFO, a process exit) bounded by "read -t" or by
# ctest's TIMEOUT; nothing sleeps.
set -u

: "${NETD_BIN:?set NETD_BIN to the netd binary}"
: "${NETCTL_BIN:?set NETCTL_BIN to the netctl binary}"
N=$NETCTL_BIN
T=$(mktemp -d /tmp/netctl-test-XXXXXX)
export NETD_SOCKET=$T/netd.sock
failures=0
NETD_PID=

cleanup() {
	local rc=$?
	jobs -p | while read -r p; do [ "$p" = "$NETD_PID" ] || kill -9 "$p" 2>/dev/null; done
	if [ -n "$NETD_PID" ]; then
		kill -TERM "$NETD_PID" 2>/dev/null
		if ! wait "$NETD_PID"; then
			echo "FAIL: netd did not exit 0; its log:"
			cat "$T/netd.log"
			rc=1
		fi
	fi
	rm -rf "$T"
	exit $rc
}
trap cleanup EXIT

start_netd() {
	mkfifo "$T/ready"
	"$NETD_BIN" --foreground --socket="$NETD_SOCKET" --ready-fd=8 8>"$T/ready" \
		>"$T/netd.log" 2>&1 &
	NETD_PID=$!
	local line=
	read -r -t 10 line <"$T/ready" || true
	case $line in
	READY=1*) ;;
	*) echo "FAIL: netd did not get ready ('$line')"; cat "$T/netd.log"; exit 1 ;;
	esac
	# NETD_TEST_OLD=1: netctl talks to a netd without socket.attach (old-netd.py in front).
	if [ "${NETD_TEST_OLD:-}" = 1 ]; then
		command -v python3 >/dev/null || { echo "skip: no python3"; exit 77; }
		mkfifo "$T/old-ready"
		python3 "$(dirname "${BASH_SOURCE[0]}")/old-netd.py" "$T/old.sock" "$NETD_SOCKET" \
			>"$T/old-ready" &
		read -r -t 10 line <"$T/old-ready" || true
		[ "$line" = ready ] || { echo "FAIL: old-netd.py did not start"; exit 1; }
		export NETD_SOCKET=$T/old.sock
	fi
}

fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

pass() {
	echo "ok: $*"
}

# expect_rc NAME WANT GOT: WANT is a number, or "nonzero".
expect_rc() {
	if [ "$2" = nonzero ]; then
		[ "$3" -ne 0 ] || { fail "$1: exit status 0, wanted non-zero"; return 1; }
	else
		[ "$3" -eq "$2" ] || { fail "$1: exit status $3, wanted $2"; return 1; }
	fi
}

# same NAME FILE1 FILE2: byte-identical files.
same() {
	if cmp -s "$2" "$3"; then
		return 0
	fi
	fail "$1: $3 differs from $2 ($(stat -c %s "$2") vs $(stat -c %s "$3") bytes)"
	return 1
}

# start_listen TAG ARGS...: runs "netctl listen ARGS" in the background with
# stderr on the FIFO $T/TAG.err, opened here as fd 3, and reads its
# "listening on ADDR" line. Sets LPID and ADDR; PORT when ADDR ends in :PORT.
# The caller redirects stdin/stdout through LISTEN_IN/LISTEN_OUT (default
# the background job's /dev/null stdin, and $T/TAG.out).
start_listen() {
	local tag=$1 line=
	shift
	rm -f "$T/$tag.err"
	mkfifo "$T/$tag.err"
	if [ -n "${LISTEN_IN:-}" ]; then
		"$N" listen "$@" <"$LISTEN_IN" >"${LISTEN_OUT:-$T/$tag.out}" 2>"$T/$tag.err" &
	else
		"$N" listen "$@" >"${LISTEN_OUT:-$T/$tag.out}" 2>"$T/$tag.err" &
	fi
	LPID=$!
	exec 3<"$T/$tag.err"
	read -r -t 10 -u 3 line || true
	case $line in
	"listening on "*) ADDR=${line#listening on }; PORT=${ADDR##*:} ;;
	*) fail "$tag: listen printed '$line'"; return 1 ;;
	esac
}
