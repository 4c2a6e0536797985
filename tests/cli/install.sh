#!/usr/bin/env bash
# Installs netd into a temporary prefix as an unprivileged user (nobody, via
# setpriv, when the test runs as root; else as the user running it) and
# checks what a user would: every file under the prefix, netdclient.pc and
# netd.service naming it, the man pages rendered; pkg-config finds the
# library, and the C example of README.md, taken from the README's own text,
# compiles against it and runs against the installed netd. Also "make
# install PREFIX=...". Needs NETD_SRC, NETD_BUILD (and NETD_SANITIZE when the
# build is sanitized, so the example is built the same way).
set -u
: "${NETD_SRC:?}" "${NETD_BUILD:?}"
T=$(mktemp -d /tmp/netd-install-XXXXXX)
P=$T/prefix
NETD_PID=
failures=0

cleanup() {
	local rc=$?
	if [ -n "$NETD_PID" ]; then
		kill -TERM "$NETD_PID" 2>/dev/null
		wait "$NETD_PID"
		local st=$?
		[ $st -eq 0 ] || { echo "FAIL: the installed netd exited $st:"; cat "$T/netd.log"; rc=1; }
	fi
	rm -rf "$T"
	exit $rc
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

if [ "$(id -u)" -eq 0 ]; then
	if ! command -v setpriv >/dev/null; then
		echo "setpriv not found: cannot drop to an unprivileged user"
		exit 77
	fi
	chown 65534:65534 "$T"
	AS=(setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$T")
	# cmake --install writes install_manifest.txt in the build tree, which a
	# user installing their own build owns; this one is root's, so that one
	# file is handed over. Everything else the install writes is under P.
	touch "$NETD_BUILD/install_manifest.txt"
	chown 65534:65534 "$NETD_BUILD/install_manifest.txt"
	echo "installing as nobody (uid 65534)"
else
	AS=(env HOME="$HOME")
	echo "not root: installing as $(id -un), already unprivileged"
fi

# 1. cmake --install --prefix P as the unprivileged user.
if ! "${AS[@]}" cmake --install "$NETD_BUILD" --prefix "$P" >"$T/install.log" 2>&1; then
	cat "$T/install.log"
	fail "cmake --install as an unprivileged user failed"
	exit 1
fi
while read -r f; do
	case $f in "$P"/*) ;; *) fail "installed outside the prefix: $f" ;; esac
done <"$NETD_BUILD/install_manifest.txt"
for f in bin/netd bin/netctl include/netd/netd.h lib/libnetdclient.so.0 lib/libnetdclient.a \
	lib/pkgconfig/netdclient.pc lib/systemd/system/netd.service lib/systemd/system/netd.socket \
	share/man/man8/netd.8 share/man/man1/netctl.1 share/doc/netd/PROTOCOL.md \
	share/bash-completion/completions/netctl; do
	[ -e "$P/$f" ] || fail "missing: $P/$f"
done
grep -qx "prefix=$P" "$P/lib/pkgconfig/netdclient.pc" || fail "netdclient.pc: $(head -3 "$P/lib/pkgconfig/netdclient.pc")"
grep -qx "ExecStart=$P/bin/netd --foreground" "$P/lib/systemd/system/netd.service" ||
	fail "netd.service: $(grep ExecStart "$P/lib/systemd/system/netd.service")"
grep -q '^\.TH NETD 8' "$P/share/man/man8/netd.8" || fail "netd.8 is not a man page"
grep -q '^\.TH NETCTL 1' "$P/share/man/man1/netctl.1" || fail "netctl.1 is not a man page"
grep -q '^\.SH EXIT STATUS' "$P/share/man/man1/netctl.1" || fail "netctl.1 has no EXIT STATUS"

# 2. pkg-config finds the library; the README's example builds against it.
export PKG_CONFIG_PATH=$P/lib/pkgconfig
flags=$(pkg-config --cflags --libs netdclient) || fail "pkg-config does not find netdclient"
case $flags in *"-I$P/include"*"-L$P/lib"* | *"-L$P/lib"*"-I$P/include"*) ;;
*) fail "pkg-config flags do not name the prefix: $flags" ;; esac
awk '/^## Using it from C/ { inside = 1 } inside && /^```c$/ { code = 1; next }
	code && /^```$/ { exit } code { print }' "$NETD_SRC/README.md" >"$T/example.c"
grep -q "int main" "$T/example.c" || fail "no C example found in README.md"
san=
[ -n "${NETD_SANITIZE:-}" ] && san="-fsanitize=$NETD_SANITIZE -fno-sanitize-recover=all"
# shellcheck disable=SC2086
if ! "${AS[@]}" cc -std=c99 -Wall -Wextra -Werror $san "$T/example.c" $flags -o "$T/example" \
	2>"$T/cc.log"; then
	cat "$T/cc.log"
	fail "the README's C example does not compile"
	exit 1
fi

# 3. The installed netd serves; the example and the installed netctl reach it.
mkfifo "$T/ready"
chown --reference="$T" "$T/ready" 2>/dev/null
"${AS[@]}" "$P/bin/netd" --foreground --socket="$T/netd.sock" --ready-fd=8 8>"$T/ready" \
	>"$T/netd.log" 2>&1 &
NETD_PID=$!
read -r -t 10 line <"$T/ready" || true
[ "${line:-}" = READY=1 ] || { cat "$T/netd.log"; fail "the installed netd did not start"; exit 1; }
out=$("${AS[@]}" env NETD_SOCKET="$T/netd.sock" LD_LIBRARY_PATH="$P/lib" "$T/example" 2>&1)
rc=$?
[ $rc -eq 0 ] || fail "the README example exited $rc: $out"
case $out in
*'net.isIP("::1") = 6'*'netd '[0-9]*) echo "ok: README example: $(echo "$out" | tr '\n' ' ')" ;;
*) fail "the README example printed: $out" ;;
esac
"${AS[@]}" env NETD_SOCKET="$T/netd.sock" "$P/bin/netctl" -q info || fail "installed netctl info"
# No daemon: a clean error and exit 2, not a crash.
out=$("${AS[@]}" env NETD_SOCKET="$T/none.sock" LD_LIBRARY_PATH="$P/lib" "$T/example" 2>&1)
rc=$?
[ $rc -eq 2 ] && case $out in *"cannot reach netd"*) true ;; *) false ;; esac ||
	fail "the README example without netd: exit $rc, '$out'"

# 4. make install PREFIX=... (as this test's user: make also (re)configures the build).
if ! make -s -C "$NETD_SRC" install BUILD="$NETD_BUILD" PREFIX="$T/make-prefix" \
	>"$T/make.log" 2>&1; then
	tail -20 "$T/make.log"
	fail "make install PREFIX=... failed"
else
	grep -qx "prefix=$T/make-prefix" "$T/make-prefix/lib/pkgconfig/netdclient.pc" ||
		fail "make install: netdclient.pc names $(head -1 "$T/make-prefix/lib/pkgconfig/netdclient.pc")"
	grep -qx "ExecStart=$T/make-prefix/bin/netd --foreground" \
		"$T/make-prefix/lib/systemd/system/netd.service" || fail "make install: netd.service"
	[ -x "$T/make-prefix/bin/netctl" ] && [ -e "$T/make-prefix/share/man/man1/netctl.1" ] ||
		fail "make install: files missing"
fi

[ "$failures" -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "all passed"
