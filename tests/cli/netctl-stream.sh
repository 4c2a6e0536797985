#!/usr/bin/env bash
# netctl connect/listen driven from a shell script as a user would: 10 MiB
# of random bytes through netd in each set-up of issue 12 (a background
# listen whose stdin is /dev/null, a receiving connect with stdin from
# /dev/null, both directions at once), byte-identical with exit 0; UNIX
# and abstract sockets; a killed peer gives a non-zero exit; --keep-open
# with three clients in turn; --exec cat as an echo; the exit codes.
. "$(dirname "$0")/lib.sh"

start_netd
head -c $((10 * 1024 * 1024)) /dev/urandom >"$T/a.bin"
head -c $((3 * 1024 * 1024 + 17)) /dev/urandom >"$T/b.bin"

# 1. "netctl listen > recv.bin &" then "netctl connect < file": the
# background job's stdin is /dev/null, so listen ends its side at once; the
# connect must still send everything.
t_background_listen() {
	start_listen bg 127.0.0.1 0 || return
	"$N" connect 127.0.0.1 "$PORT" <"$T/a.bin"
	expect_rc "background: connect" 0 $? || return
	wait "$LPID"
	expect_rc "background: listen" 0 $? || return
	same "background" "$T/a.bin" "$T/bg.out" && pass "background listen receives 10 MiB"
}

# 2. The reverse: listen sends a file, connect receives with stdin /dev/null.
t_devnull_connect() {
	LISTEN_IN=$T/a.bin LISTEN_OUT=/dev/null start_listen rev 127.0.0.1 0 || return
	"$N" connect 127.0.0.1 "$PORT" </dev/null >"$T/rev.got"
	expect_rc "reverse: connect" 0 $? || return
	wait "$LPID"
	expect_rc "reverse: listen" 0 $? || return
	same "reverse" "$T/a.bin" "$T/rev.got" && pass "connect </dev/null receives 10 MiB"
}

# 3. Both directions at once, of different lengths.
t_both_ways() {
	LISTEN_IN=$T/b.bin start_listen both 127.0.0.1 0 || return
	"$N" connect 127.0.0.1 "$PORT" <"$T/a.bin" >"$T/both.got"
	expect_rc "both: connect" 0 $? || return
	wait "$LPID"
	expect_rc "both: listen" 0 $? || return
	same "both ways, to listen" "$T/a.bin" "$T/both.out" &&
		same "both ways, to connect" "$T/b.bin" "$T/both.got" &&
		pass "10 MiB and 3 MiB both ways at once"
}

# 4. A UNIX socket path and an abstract name; -v reports the bytes moved.
t_unix() {
	start_listen unix "$T/app.sock" || return
	"$N" -v connect "$T/app.sock" <"$T/b.bin" 2>"$T/unix.verbose"
	expect_rc "unix: connect" 0 $? || return
	wait "$LPID"
	expect_rc "unix: listen" 0 $? || return
	same "unix" "$T/b.bin" "$T/unix.out" || return
	grep -q "closed: $(stat -c %s "$T/b.bin") bytes sent, 0 received" "$T/unix.verbose" ||
		{ fail "unix: -v said: $(cat "$T/unix.verbose")"; return; }
	local name=netctl-test-$$
	start_listen abstract "@$name" || return
	[ "$ADDR" = "@$name" ] || { fail "abstract: listening on '$ADDR'"; return; }
	"$N" connect "@$name" <"$T/b.bin"
	expect_rc "abstract: connect" 0 $? || return
	wait "$LPID"
	expect_rc "abstract: listen" 0 $? || return
	same "abstract" "$T/b.bin" "$T/abstract.out" && pass "UNIX path and abstract name"
}

# 5. The sender is killed (SIGTERM) mid-stream: it resets the connection,
# so the receiver cannot take a partial stream for a whole one.
t_killed_sender() {
	local cpid got
	rm -f "$T/ks.in" "$T/ks.out"
	mkfifo "$T/ks.in" "$T/ks.out"
	# Read-write opens of a FIFO do not wait for the other side.
	exec 5<>"$T/ks.out" 6<>"$T/ks.in"
	LISTEN_OUT=$T/ks.out start_listen ks 127.0.0.1 0 || return
	"$N" connect 127.0.0.1 "$PORT" <"$T/ks.in" 2>"$T/ks.cerr" &
	cpid=$!
	head -c 1000000 "$T/a.bin" >&6
	read -r -t 10 -N 4096 -u 5 got || { fail "killed sender: no data arrived"; return; }
	kill -TERM "$cpid"
	wait "$cpid"
	expect_rc "killed sender: the sender" 143 $? || return
	grep -q "interrupted by SIGTERM" "$T/ks.cerr" ||
		{ fail "killed sender: sender said: $(cat "$T/ks.cerr")"; return; }
	cat <&5 >/dev/null &
	local drain=$!
	wait "$LPID"
	expect_rc "killed sender: the receiver" 1 $? || return
	# SIGKILL: a SIGTERM that comes before the fork has exec'd cat makes that
	# subshell run lib.sh's EXIT trap (which stops netd under the later tests).
	kill -KILL "$drain" 2>/dev/null
	exec 5<&- 6>&-
	read -r -t 10 -u 3 got # "connection from"
	read -r -t 10 -u 3 got
	case $got in
	*ECONNRESET*) pass "a killed sender makes the receiver fail: $got" ;;
	*) fail "killed sender: the receiver said '$got'" ;;
	esac
}

# 6. The receiver is killed (SIGKILL, no clean-up at all) mid-stream: the
# sender's next writes fail, and so does the sender.
t_killed_receiver() {
	local cpid got
	rm -f "$T/kr.in" "$T/kr.out"
	mkfifo "$T/kr.in" "$T/kr.out"
	exec 5<>"$T/kr.out"
	LISTEN_OUT=$T/kr.out start_listen kr 127.0.0.1 0 || return
	"$N" connect 127.0.0.1 "$PORT" <"$T/kr.in" 2>"$T/kr.cerr" &
	cpid=$!
	# Write-only, so that writes fail (rather than block) once connect is gone.
	exec 6>"$T/kr.in"
	head -c 100000 "$T/a.bin" >&6
	read -r -t 10 -N 4096 -u 5 got || { fail "killed receiver: no data arrived"; return; }
	kill -KILL "$LPID"
	wait "$LPID" 2>/dev/null
	# More data, then the end: the writes meet the reset.
	head -c 1000000 "$T/a.bin" >&6 2>/dev/null
	exec 5<&- 6>&-
	wait "$cpid"
	expect_rc "killed receiver: the sender" 1 $? || { cat "$T/kr.cerr"; return; }
	grep -q "bytes of stdin were not sent\|EPIPE\|ECONNRESET" "$T/kr.cerr" &&
		pass "a killed receiver makes the sender fail: $(head -n 1 "$T/kr.cerr")" ||
		fail "killed receiver: the sender said: $(cat "$T/kr.cerr")"
}

# 7. --keep-open: three clients one after the other, each with its own data.
t_keep_open() {
	local i line
	start_listen ko -k -v 127.0.0.1 0 || return
	for i in 1 2 3; do
		printf 'client %s\n' "$i" | "$N" connect 127.0.0.1 "$PORT"
		expect_rc "keep-open: client $i" 0 $? || return
		# Each connection is done once -v reports it closed.
		while read -r -t 10 -u 3 line; do
			case $line in *closed*) break ;; esac
		done
		case $line in
		*"closed: 0 bytes sent, 9 received") ;;
		*) fail "keep-open: after client $i: '$line'"; return ;;
		esac
	done
	kill -TERM "$LPID"
	wait "$LPID"
	expect_rc "keep-open: listen stopped by SIGTERM" 143 $? || return
	printf 'client 1\nclient 2\nclient 3\n' >"$T/ko.want"
	same "keep-open" "$T/ko.want" "$T/ko.out" && pass "--keep-open served three clients in turn"
}

# 8. --exec cat: each connection is echoed by its own cat; and --sh-exec.
t_exec() {
	LISTEN_OUT=/dev/null start_listen ex --exec cat 127.0.0.1 0 || return
	"$N" connect 127.0.0.1 "$PORT" <"$T/a.bin" >"$T/ex.got"
	expect_rc "exec: connect" 0 $? || return
	wait "$LPID"
	expect_rc "exec: listen" 0 $? || return
	same "exec cat" "$T/a.bin" "$T/ex.got" || return
	LISTEN_OUT=/dev/null start_listen sh -k --sh-exec 'tr a-z A-Z; echo done' 127.0.0.1 0 ||
		return
	local i got
	for i in 1 2; do
		got=$(echo "hello $i" | "$N" connect 127.0.0.1 "$PORT")
		[ "$got" = "HELLO $i"$'\n'"done" ] || { fail "sh-exec: got '$got'"; return; }
	done
	kill -TERM "$LPID"
	wait "$LPID"
	# A command that fails is an error of its connection.
	LISTEN_OUT=/dev/null start_listen bad --sh-exec 'exit 3' 127.0.0.1 0 || return
	"$N" connect 127.0.0.1 "$PORT" </dev/null >/dev/null
	expect_rc "exec: connect to a failing command" 0 $? || return
	wait "$LPID"
	expect_rc "exec: a failing command" 1 $? || return
	read -r -t 10 -u 3 got
	read -r -t 10 -u 3 got
	case $got in
	*"exited with status 3"*) pass "--exec cat echoes 10 MiB; --sh-exec; a failing command" ;;
	*) fail "exec: a failing command: '$got'" ;;
	esac
}

# 9. --idle-timeout, --send-only, --recv-only.
t_options() {
	local got
	rm -f "$T/idle.in"
	mkfifo "$T/idle.in"
	exec 6<>"$T/idle.in"
	start_listen idle -w 200ms 127.0.0.1 0 || return
	# connect must not inherit fd 6, else its stdin never ends.
	"$N" connect 127.0.0.1 "$PORT" <"$T/idle.in" >/dev/null 2>&1 6>&- &
	local cpid=$!
	wait "$LPID"
	expect_rc "idle-timeout: listen" 1 $? || return
	read -r -t 10 -u 3 got
	read -r -t 10 -u 3 got
	case $got in *"idle for 200 ms"*) ;; *) fail "idle-timeout: '$got'"; return ;; esac
	exec 6>&-
	wait "$cpid"
	LISTEN_IN=$T/b.bin start_listen so --send-only 127.0.0.1 0 || return
	got=$("$N" connect --recv-only 127.0.0.1 "$PORT" <"$T/a.bin" | cmp - "$T/b.bin" && echo same)
	wait "$LPID"
	expect_rc "send-only: listen" 0 $? || return
	[ "$got" = same ] || { fail "recv-only: got other bytes"; return; }
	[ -s "$T/so.out" ] && { fail "send-only: wrote received data"; return; }
	pass "--idle-timeout, --send-only, --recv-only"
}

# 9b. --progress, --max-conns and --connect-timeout.
t_more_options() {
	local line got
	start_listen prog 127.0.0.1 0 || return
	"$N" connect --progress 127.0.0.1 "$PORT" <"$T/b.bin" 2>"$T/progress.log"
	expect_rc "progress: connect" 0 $? || return
	wait "$LPID"
	grep -q "3.0 MiB sent, 0 B received" "$T/progress.log" ||
		{ fail "progress: stderr was '$(cat "$T/progress.log")'"; return; }
	# --max-conns 1: while one connection is open, the next is refused.
	rm -f "$T/mc.in"
	mkfifo "$T/mc.in"
	exec 6<>"$T/mc.in"
	LISTEN_OUT=/dev/null start_listen mc -k -v --max-conns 1 --exec cat 127.0.0.1 0 6>&- || return
	"$N" connect 127.0.0.1 "$PORT" <"$T/mc.in" >/dev/null 6>&- &
	local held=$!
	read -r -t 10 -u 3 line # connection from
	echo refused | "$N" connect 127.0.0.1 "$PORT" >"$T/mc.got" 2>/dev/null
	while read -r -t 10 -u 3 line; do
		case $line in "dropped a connection"*) got=1; break ;; esac
	done
	exec 6>&-
	wait "$held"
	kill -TERM "$LPID"
	wait "$LPID"
	[ -n "${got:-}" ] || { fail "max-conns: no 'dropped' line"; return; }
	[ -s "$T/mc.got" ] && { fail "max-conns: the refused client got an echo"; return; }
	# --connect-timeout: a listener whose accept queue is full drops the SYN.
	if command -v python3 >/dev/null; then
		rm -f "$T/full.port"
		mkfifo "$T/full.port"
		python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)
fill = socket.create_connection(s.getsockname())  # the accept queue (backlog 0) is full
print(s.getsockname()[1], flush=True)
sys.stdin.read()' <"$T/mc.in" >"$T/full.port" 6>&- &
		local py=$!
		exec 6>"$T/mc.in"
		read -r -t 10 got <"$T/full.port"
		"$N" connect --connect-timeout 300ms 127.0.0.1 "$got" </dev/null 2>"$T/ct.err"
		expect_rc "connect-timeout" 1 $? || { exec 6>&-; return; }
		exec 6>&-
		wait "$py"
		grep -q "timed out after 300 ms (ETIMEDOUT)" "$T/ct.err" ||
			{ fail "connect-timeout: '$(cat "$T/ct.err")'"; return; }
	fi
	pass "--progress, --max-conns, --connect-timeout"
}

# 10. Exit codes: 0 success, 1 an error from netd or the connection, 2 netd
# unreachable, 3 usage.
t_exit_codes() {
	local port
	"$N" -q info
	expect_rc "exit 0" 0 $? || return
	# A port nobody listens on: take one from a listen that then ends.
	start_listen free 127.0.0.1 0 || return
	port=$PORT
	"$N" connect 127.0.0.1 "$port" </dev/null >/dev/null
	wait "$LPID"
	"$N" connect 127.0.0.1 "$port" </dev/null 2>"$T/refused.err"
	expect_rc "exit 1 (refused)" 1 $? || return
	grep -q "ECONNREFUSED" "$T/refused.err" || { fail "refused: $(cat "$T/refused.err")"; return; }
	"$N" --socket="$T/nothing.sock" connect 127.0.0.1 1 </dev/null 2>/dev/null
	expect_rc "exit 2" 2 $? || return
	"$N" connect 127.0.0.1 0 </dev/null 2>/dev/null
	expect_rc "exit 3 (port 0)" 3 $? || return
	"$N" connect --send-only --recv-only 127.0.0.1 1 </dev/null 2>/dev/null
	expect_rc "exit 3 (send/recv-only)" 3 $? || return
	"$N" connect -k 127.0.0.1 1 </dev/null 2>/dev/null
	expect_rc "exit 3 (-k on connect)" 3 $? || return
	"$N" connect -w 0 127.0.0.1 1 </dev/null 2>/dev/null
	expect_rc "exit 3 (-w 0)" 3 $? || return
	"$N" connect --help | grep -q -- "--connect-timeout" || { fail "connect --help"; return; }
	"$N" listen --help | grep -q -- "--keep-open" || { fail "listen --help"; return; }
	pass "exit codes 0, 1, 2, 3 and --help"
}

# 11. The way the bytes go: attached (socket.attach, createServer attach) with
# this netd; as JSON with --no-attach, and with a netd that has no
# socket.attach (NETD_TEST_OLD=1, old-netd.py), which netctl finds out itself.
t_attach_mode() {
	local want=attached
	[ "${NETD_TEST_OLD:-}" = 1 ] && want=json
	start_listen am -v 127.0.0.1 0 || return
	"$N" -v connect 127.0.0.1 "$PORT" <"$T/b.bin" 2>"$T/am.cerr"
	expect_rc "attach mode: connect" 0 $? || return
	wait "$LPID"
	expect_rc "attach mode: listen" 0 $? || return
	same "attach mode" "$T/b.bin" "$T/am.out" || return
	local lerr
	lerr=$(cat <&3)
	if [ $want = attached ]; then
		grep -q "connection to 127.0.0.1:$PORT: attached" "$T/am.cerr" ||
			{ fail "attach mode: connect said '$(cat "$T/am.cerr")'"; return; }
		case $lerr in *": attached"*) ;; *) fail "attach mode: listen said '$lerr'"; return ;; esac
	else
		grep -q "not attached (Method not found" "$T/am.cerr" ||
			{ fail "attach mode: connect said '$(cat "$T/am.cerr")'"; return; }
		case $lerr in *"attached"*) fail "attach mode: listen said '$lerr'"; return ;; esac
	fi
	# --no-attach: JSON whatever netd can do.
	start_listen na -v --no-attach 127.0.0.1 0 || return
	"$N" -v --no-attach connect 127.0.0.1 "$PORT" <"$T/b.bin" 2>"$T/na.cerr"
	expect_rc "no-attach: connect" 0 $? || return
	wait "$LPID"
	same "no-attach" "$T/b.bin" "$T/na.out" || return
	grep -q "attached" "$T/na.cerr" && { fail "no-attach: connect said '$(cat "$T/na.cerr")'"; return; }
	pass "the bytes go $want (connect and listen), and as JSON with --no-attach"
}

# Arguments name tests to run alone (t_exec ...); none: all of them.
for t in ${@:-t_background_listen t_devnull_connect t_both_ways t_unix t_killed_sender \
	t_killed_receiver t_keep_open t_exec t_options t_more_options t_exit_codes t_attach_mode}; do
	$t
done
[ "$failures" -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "all passed"
