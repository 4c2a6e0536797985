#!/usr/bin/env bash
# netctl forward, driven as a user would: 64 MiB each way through a
# forwarder to a netctl listen, byte-identical with exit 0 everywhere; a
# target that refuses the connection closes the accepted one with a clear
# message and exit 1; several connections at once (-k) to an echo target,
# each getting its own bytes back; usage errors.
. "$(dirname "$0")/lib.sh"

start_netd
head -c $((64 * 1024 * 1024)) /dev/urandom >"$T/up.bin"
head -c $((64 * 1024 * 1024 + 4099)) /dev/urandom >"$T/down.bin"

# start_forward TAG ARGS...: "netctl forward ARGS" in the background, stderr
# on the FIFO $T/TAG.ferr opened as fd 4; sets FPID and FPORT from its
# "listening on ADDR, forwarding to TARGET" line.
start_forward() {
	local tag=$1 line=
	shift
	rm -f "$T/$tag.ferr"
	mkfifo "$T/$tag.ferr"
	"$N" forward "$@" 2>"$T/$tag.ferr" &
	FPID=$!
	exec 4<"$T/$tag.ferr"
	read -r -t 10 -u 4 line || true
	case $line in
	"listening on "*", forwarding to "*)
		line=${line#listening on }
		line=${line%%, forwarding to *}
		FPORT=${line##*:} ;;
	*) fail "$tag: forward printed '$line'"; return 1 ;;
	esac
}

# 1. 64 MiB each way at once: client -> forward -> listen, and back.
t_both_ways() {
	LISTEN_IN=$T/down.bin start_listen tgt 127.0.0.1 0 || return
	start_forward fw -v 127.0.0.1 0 127.0.0.1 "$PORT" || return
	"$N" connect 127.0.0.1 "$FPORT" <"$T/up.bin" >"$T/fw.got"
	expect_rc "both ways: connect" 0 $? || return
	wait "$LPID"
	expect_rc "both ways: the target (listen)" 0 $? || return
	wait "$FPID"
	expect_rc "both ways: forward" 0 $? || { cat <&4; return; }
	same "forwarded to the target" "$T/up.bin" "$T/tgt.out" || return
	same "forwarded back" "$T/down.bin" "$T/fw.got" || return
	local log
	log=$(cat <&4)
	case $log in
	*"closed: 67108864 bytes to 127.0.0.1:$PORT, 67112963 bytes back"*) ;;
	*) fail "both ways: -v said '$log'"; return ;;
	esac
	pass "forward relays 64 MiB each way, byte-exact"
}

# 2. The target refuses: the accepted connection is closed, and forward says why.
t_refused() {
	local port got
	start_listen free 127.0.0.1 0 || return
	port=$PORT
	"$N" connect 127.0.0.1 "$port" </dev/null >/dev/null
	wait "$LPID" # nothing listens on $port any more
	start_forward ref 127.0.0.1 0 127.0.0.1 "$port" || return
	"$N" connect 127.0.0.1 "$FPORT" </dev/null >"$T/ref.got" 2>/dev/null
	wait "$FPID"
	expect_rc "refused: forward" 1 $? || return
	[ -s "$T/ref.got" ] && { fail "refused: the client got data"; return; }
	got=$(cat <&4)
	case $got in
	*"cannot connect to 127.0.0.1:$port: "*ECONNREFUSED*", closing it"*) ;;
	*) fail "refused: forward said '$got'"; return ;;
	esac
	pass "a refused target closes the connection: ${got#netctl: }"
}

# 3. -k: four connections at once to an echo target; each gets its own bytes.
t_concurrent() {
	local i pids=() rc=0
	LISTEN_OUT=/dev/null start_listen echo -k --exec cat 127.0.0.1 0 || return
	start_forward many -k 127.0.0.1 0 127.0.0.1 "$PORT" || return
	for i in 1 2 3 4; do
		head -c $((3 * 1024 * 1024 + i)) /dev/urandom >"$T/c$i.bin"
	done
	for i in 1 2 3 4; do
		"$N" connect 127.0.0.1 "$FPORT" <"$T/c$i.bin" >"$T/c$i.got" &
		pids+=($!)
	done
	for i in 1 2 3 4; do
		wait "${pids[$((i - 1))]}" || rc=$?
	done
	kill -TERM "$FPID" "$LPID"
	wait "$FPID"
	expect_rc "concurrent: forward stopped by SIGTERM" 143 $? || return
	wait "$LPID"
	[ "$rc" -eq 0 ] || { fail "concurrent: a client exited $rc"; return; }
	for i in 1 2 3 4; do
		same "concurrent client $i" "$T/c$i.bin" "$T/c$i.got" || return
	done
	pass "four forwarded connections at once, each echoed byte-exact"
}

# 6. A forward interrupted mid-stream resets its connections: the target
# reads ECONNRESET, not an end that would pass a cut stream off as whole.
t_interrupted() {
	local line port rc
	rm -f "$T/int.tgt"
	mkfifo "$T/int.tgt"
	python3 -c '
import socket
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
print(l.getsockname()[1], flush=True)
c, _ = l.accept(); n = 0; said = False
try:
    while True:
        b = c.recv(65536)
        if not b:
            print("EOF", n, flush=True); break
        n += len(b)
        if n >= 1 << 20 and not said:
            print("GOT", flush=True); said = True
except ConnectionResetError:
    print("RESET", n, flush=True)
' >"$T/int.tgt" &
	local tpid=$!
	exec 5<"$T/int.tgt"
	read -r -t 10 -u 5 port || { fail "interrupted: no target port"; return; }
	start_forward int 127.0.0.1 0 127.0.0.1 "$port" || return
	"$N" connect 127.0.0.1 "$FPORT" </dev/zero >/dev/null 2>&1 &
	local cpid=$!
	read -r -t 10 -u 5 line
	[ "$line" = GOT ] || { fail "interrupted: the target said '$line'"; return; }
	kill -TERM "$FPID"
	wait "$FPID"
	expect_rc "interrupted: forward stopped by SIGTERM" 143 $? || return
	read -r -t 10 -u 5 line
	wait "$tpid"
	wait "$cpid"
	rc=$?
	case $line in
	RESET*) ;;
	*) fail "interrupted: the target read '$line', not a reset"; return ;;
	esac
	[ "$rc" -ne 0 ] || { fail "interrupted: the client exited 0"; return; }
	pass "an interrupted forward resets both ends (target: $line, client exit $rc)"
}

# 5. A netd without socket.pipe (NETD_TEST_OLD=1): forward says so and fails.
t_old_netd() {
	local got
	LISTEN_OUT=/dev/null start_listen oldtgt 127.0.0.1 0 </dev/null || return
	start_forward old 127.0.0.1 0 127.0.0.1 "$PORT" || return
	"$N" connect 127.0.0.1 "$FPORT" </dev/null >/dev/null 2>&1
	wait "$FPID"
	expect_rc "old netd: forward" 1 $? || return
	got=$(cat <&4)
	case $got in
	*"netd has no socket.pipe: it cannot forward"*) ;;
	*) fail "old netd: forward said '$got'"; return ;;
	esac
	kill -TERM "$LPID" 2>/dev/null
	wait "$LPID" 2>/dev/null
	pass "a netd without socket.pipe: forward says it cannot forward, exit 1"
}

# 4. Usage.
t_usage() {
	"$N" forward 127.0.0.1 0 </dev/null 2>/dev/null
	expect_rc "usage: one address" 3 $? || return
	"$N" forward --exec cat 0 127.0.0.1 1 </dev/null 2>/dev/null
	expect_rc "usage: --exec" 3 $? || return
	"$N" forward 0 127.0.0.1 0 </dev/null 2>/dev/null
	expect_rc "usage: target port 0" 3 $? || return
	"$N" forward --help | grep -q "LISTEN_ADDR TARGET_ADDR" || { fail "forward --help"; return; }
	pass "forward usage errors and --help"
}

if [ "${NETD_TEST_OLD:-}" = 1 ]; then
	set -- ${@:-t_old_netd}
fi
for t in ${@:-t_both_ways t_refused t_concurrent t_interrupted t_usage}; do
	$t
done
[ "$failures" -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "all passed"
