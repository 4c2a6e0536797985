#!/usr/bin/env bash
# netctl's seeing and calling commands from a shell script, as a user would:
# ls showing a connection made by other processes, monitor printing their
# connection/data/close, a lagging monitor told how many events it missed,
# close, methods, help METHOD, call KEY=VALUE, --help on each command and
# the bash completion. (The shell command is driven through a pty by
# netctl-shell.py.)
. "$(dirname "$0")/lib.sh"

start_netd
head -c $((10 * 1024 * 1024)) /dev/urandom >"$T/a.bin"

# A connection made by two other processes, held open: listen and connect
# whose stdin is a FIFO this script keeps open (fd 6, never inherited).
hold_connection() {
	rm -f "$T/hold.in"
	mkfifo "$T/hold.in"
	exec 6<>"$T/hold.in"
	start_listen hold 127.0.0.1 0 6>&- || return 1
	HOLD_LPID=$LPID
	"$N" connect 127.0.0.1 "$PORT" <"$T/hold.in" >"$T/hold.got" 6>&- 2>"$T/hold.cerr" &
	HOLD_CPID=$!
	local line
	read -r -t 10 -u 3 line # "connection from ..."
	case $line in "connection from"*) ;; *) fail "hold: listen said '$line'"; return 1 ;; esac
}

# start_monitor TAG ARGS...: "netctl monitor ARGS" with stdout on fd 4 (a
# FIFO opened read-write, so the monitor never waits for a reader), once its
# subscription is in place ("monitoring" on stderr). Sets MPID.
start_monitor() {
	local tag=$1 line=
	shift
	rm -f "$T/$tag.out" "$T/$tag.merr"
	mkfifo "$T/$tag.out" "$T/$tag.merr"
	exec 4<>"$T/$tag.out"
	"$N" monitor "$@" >"$T/$tag.out" 2>"$T/$tag.merr" &
	MPID=$!
	exec 7<"$T/$tag.merr"
	read -r -t 10 -u 7 line
	case $line in monitoring*) ;; *) fail "$tag: monitor said '$line'"; return 1 ;; esac
}

t_ls() {
	hold_connection || return
	local json
	json=$("$N" --json ls) || { fail "ls --json failed"; return; }
	# Both ends of the connection, each owned by its own netctl process.
	echo "$json" | grep -q "\"pid\":$HOLD_CPID" || { fail "ls: no handle of pid $HOLD_CPID: $json"; return; }
	echo "$json" | grep -q "\"pid\":$HOLD_LPID" || { fail "ls: no handle of pid $HOLD_LPID: $json"; return; }
	[ "$(echo "$json" | grep -o '"kind":"socket"' | wc -l)" -eq 2 ] ||
		{ fail "ls: not two sockets: $json"; return; }
	"$N" ls | grep -q "^[0-9]* *socket *[a-zA-Z]* .*uid=$(id -u) pid=$HOLD_CPID" ||
		{ fail "ls table: $("$N" ls)"; return; }
	[ "$("$N" --json ls --kind server | grep -o '"kind":"socket"' | wc -l)" -eq 0 ] ||
		{ fail "ls --kind server lists sockets"; return; }
	[ "$("$N" --json ls --owner 4242 | tr -d ' \n')" = "[]" ] || { fail "ls --owner 4242"; return; }
	pass "ls shows a connection made by other processes, with filters"
}

# close: the connecting side's socket is destroyed from here; that netctl fails.
t_close() {
	local sock got
	sock=$("$N" --json ls | grep -o "{\"id\":[0-9]*,\"kind\":\"socket\",\"owner\":{\"uid\":[0-9]*,\"pid\":$HOLD_CPID" |
		grep -o '"id":[0-9]*' | cut -d: -f2)
	[ -n "$sock" ] || { fail "close: no socket of pid $HOLD_CPID"; return; }
	"$N" close "$sock"
	expect_rc "close" 0 $? || return
	wait "$HOLD_CPID"
	expect_rc "close: the connect whose socket was closed" 1 $? || return
	grep -q "destroyed in netd" "$T/hold.cerr" || { fail "close: connect said $(cat "$T/hold.cerr")"; return; }
	exec 6>&-
	wait "$HOLD_LPID"
	"$N" close 999999 2>"$T/close.err"
	expect_rc "close of an unknown handle" 1 $? || return
	grep -q ERR_NETD_HANDLE_NOT_FOUND "$T/close.err" || { fail "close 999999: $(cat "$T/close.err")"; return; }
	# A listen whose server is closed from elsewhere says so and fails.
	start_listen closed 127.0.0.1 0 || return
	local srv
	srv=$("$N" --json ls --kind server | grep -o '"id":[0-9]*' | head -1 | cut -d: -f2)
	"$N" close "$srv"
	wait "$LPID"
	expect_rc "listen whose server was closed" 1 $? || return
	read -r -t 10 -u 3 got
	case $got in *"server was closed"*) pass "close HANDLE (a socket, a server, unknown)" ;;
	*) fail "close: listen said '$got'" ;; esac
}

# monitor prints the connection, its data and its close, one line each.
# The data is watched as socket.data events: connect and listen move it as JSON here
# (--no-attach). An attached socket's bytes go through its descriptor, with no
# socket.data for observers to see.
t_monitor() {
	local line seen=""
	start_monitor mon || return
	local mpid=$MPID
	LISTEN_OUT=$T/mon.recv start_listen mon --no-attach 127.0.0.1 0 || return
	read -r -t 10 -u 4 line
	case $line in *"server.listening"*) ;; *) fail "monitor: first line '$line'"; return ;; esac
	echo "hello monitor" | "$N" connect --no-attach 127.0.0.1 "$PORT"
	wait "$LPID"
	while read -r -t 10 -u 4 line; do
		case $line in
		*"server.connection socket="*) seen="$seen connection" ;;
		*"socket.data 14 bytes"*) seen="$seen data" ;;
		*"server.close"*) seen="$seen close"; break ;;
		esac
	done
	kill -INT "$mpid"
	wait "$mpid"
	expect_rc "monitor after SIGINT" 0 $? || return
	exec 4<&-
	[ "$seen" = " connection data data close" ] || [ "$seen" = " connection data close" ] ||
		{ fail "monitor saw:$seen"; return; }
	pass "monitor prints connection, data and close"
}

# A monitor that stops reading is dropped from, never holds anyone up; it is
# told how many events it missed once it reads again.
t_lagging_monitor() {
	local line n
	# Nothing reads the monitor's stdout during the transfer: with --json every
	# line carries the data, so its pipe fills up and the monitor stops reading.
	start_monitor lag --json --kind socket || return
	local mpid=$MPID
	LISTEN_OUT=$T/lag.recv start_listen lag --no-attach 127.0.0.1 0 || return
	"$N" connect --no-attach 127.0.0.1 "$PORT" <"$T/a.bin"
	expect_rc "lagging monitor: the transfer" 0 $? || return
	wait "$LPID"
	expect_rc "lagging monitor: listen" 0 $? || return
	same "lagging monitor: the transfer" "$T/a.bin" "$T/lag.recv" || return
	# Read again: once the monitor has caught up, netd.missed says what it lost.
	# grep reads blocks (bash's read would take the 13 MB of JSON a byte at a time).
	n=$(timeout 30 grep -a -m1 -o '"netd.missed","params":{[^}]*}' <&4 | grep -o '"missed":[0-9]*' |
		cut -d: -f2)
	kill -INT "$mpid"
	wait "$mpid"
	exec 4<&-
	[ -n "$n" ] && [ "$n" -gt 0 ] || { fail "lagging monitor: no netd.missed line"; return; }
	pass "a lagging monitor is told it missed $n events; the 10 MiB transfer was unaffected"
}

# Another user sees none of root's handles, and may neither observe nor close them.
t_permission() {
	if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null; then
		echo "skipped: permissions (needs root and setpriv)"
		return
	fi
	local srv out
	start_listen perm 127.0.0.1 0 || return
	srv=$("$N" --json ls --kind server | grep -o '"id":[0-9]*' | head -1 | cut -d: -f2)
	chmod 755 "$T"
	chmod 666 "$NETD_SOCKET"
	nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$N" "$@"; }
	out=$(nobody --json ls)
	[ "$out" = "[]" ] || { fail "permission: nobody's ls shows $out"; return; }
	nobody close "$srv" 2>"$T/perm.err"
	expect_rc "permission: close by another user" 1 $? || return
	grep -q ERR_NETD_PERMISSION "$T/perm.err" || { fail "permission: close said $(cat "$T/perm.err")"; return; }
	nobody monitor "$srv" 2>"$T/perm.err"
	expect_rc "permission: monitor by another user" 1 $? || return
	grep -q ERR_NETD_PERMISSION "$T/perm.err" || { fail "permission: monitor said $(cat "$T/perm.err")"; return; }
	chmod 700 "$T"
	"$N" close "$srv"
	wait "$LPID"
	pass "another user sees nothing of root's, and may not observe or close it"
}

t_methods_help_call() {
	local out
	"$N" methods | grep -q "^netd.handles  *List" || { fail "methods: $("$N" methods | head -3)"; return; }
	"$N" methods --names | grep -qx "socket.write" || { fail "methods --names"; return; }
	out=$("$N" help server.listen) || { fail "help server.listen"; return; }
	case $out in *"port "*"Port"*"ERR_SERVER_ALREADY_LISTEN"*) ;; *) fail "help server.listen: $out"; return ;; esac
	[ "$("$N" call net.isIP input=::1)" = 6 ] || { fail "call KEY=VALUE"; return; }
	[ "$("$N" call net.isIPv4 '{"input":"1.2.3.4"}')" = true ] || { fail "call JSON"; return; }
	"$N" call net.isIP nope=1 2>"$T/call.err"
	expect_rc "call with an unknown key" 3 $? || return
	grep -q "has no parameter 'nope'; input" "$T/call.err" || { fail "call: $(cat "$T/call.err")"; return; }
	"$N" call netd.handles bogus 2>/dev/null
	expect_rc "call with a word that is not KEY=VALUE" 3 $? || return
	"$N" help no.such.method 2>/dev/null
	expect_rc "help of an unknown method" 3 $? || return
	local v
	for v in call close connect help info isip listen ls methods monitor notify shell version; do
		"$N" "$v" --help | grep -q "Usage: netctl" || { fail "netctl $v --help"; return; }
	done
	pass "methods, help METHOD, call KEY=VALUE / JSON, --help on each command"
}

t_completion() {
	local got
	got=$(bash -c '. "$1"; COMP_WORDS=(netctl l); COMP_CWORD=1; _netctl; echo "${COMPREPLY[*]}"' \
		_ "$(dirname "$0")/../../cli/netctl.bash")
	[ "$got" = "listen ls" ] || { fail "completion of 'l': '$got'"; return; }
	got=$(bash -c '. "$1"; COMP_WORDS=("$2" call net.isIPv); COMP_CWORD=2; _netctl; echo "${COMPREPLY[*]}"' \
		_ "$(dirname "$0")/../../cli/netctl.bash" "$N")
	[ "$got" = "net.isIPv4 net.isIPv6" ] || { fail "completion of methods: '$got'"; return; }
	got=$(bash -c '. "$1"; COMP_WORDS=(netctl listen --kee); COMP_CWORD=2; _netctl; echo "${COMPREPLY[*]}"' \
		_ "$(dirname "$0")/../../cli/netctl.bash")
	[ "$got" = "--keep-open" ] || { fail "completion of listen options: '$got'"; return; }
	pass "bash completion: commands, methods, options"
}

for t in ${@:-t_ls t_close t_monitor t_lagging_monitor t_permission t_methods_help_call t_completion}; do
	$t
done
[ "$failures" -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "all passed"
