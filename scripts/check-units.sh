#!/bin/sh
# Checks the systemd units: they parse, and the sandbox exposure of
# netd.service and netd-peruser.service stays at or below 2.0
# (systemd-analyze security). Exit 77 (skipped) where systemd-analyze is
# missing.
set -eu
src=$1
build=$2
command -v systemd-analyze >/dev/null 2>&1 || { echo "systemd-analyze not found"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cp "$build/netd.service" "$src/netd.socket" "$build/netd-peruser.service" \
	"$src/netd-peruser.socket" "$dir/"
# verify wants ExecStart= to exist: point it at a stand-in executable.
printf '#!/bin/sh\n' > "$dir/netd"
chmod +x "$dir/netd"
sed -i "s|^ExecStart=[^ ]*|ExecStart=$dir/netd|" "$dir/netd.service" "$dir/netd-peruser.service"
systemd-analyze verify "$dir/netd.socket" "$dir/netd.service"
systemd-analyze verify "$dir/netd-peruser.socket" "$dir/netd-peruser.service"
for unit in netd.service netd-peruser.service; do
	level=$(systemd-analyze security --offline=true "$dir/$unit" 2>/dev/null |
		sed -n "s/.*Overall exposure level for $unit: \([0-9.]*\).*/\1/p")
	echo "$unit exposure: $level"
	[ -n "$level" ] || { echo "could not read the exposure level of $unit"; exit 1; }
	awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }' || { echo "$unit: exposure $level > 2.0"; exit 1; }
done
# What netd needs of the syscall filter besides the usual: sendmsg with
# SCM_RIGHTS (sd_notify, the fd store), and for the in-place upgrade
# memfd_create and execve. SystemCallFilter=@system-service must allow them
# and the services' ~... lines must not take them away.
allowed=$(systemd-analyze syscall-filter @system-service 2>/dev/null | sed 's/^ *//')
for call in memfd_create execve sendmsg; do
	# @system-service lists groups (@ipc, @default, ...): expand those it names.
	found=no
	for group in @system-service $(printf '%s\n' "$allowed" | grep '^@'); do
		systemd-analyze syscall-filter "$group" 2>/dev/null | sed 's/^ *//' | grep -qx "$call" &&
			found=yes
	done
	[ "$found" = yes ] || { echo "@system-service does not allow $call"; exit 1; }
	for unit in netd.service netd-peruser.service; do
		for denied in $(sed -n 's/^SystemCallFilter=~//p' "$dir/$unit"); do
			if systemd-analyze syscall-filter "$denied" 2>/dev/null | sed 's/^ *//' |
				grep -qx "$call"; then
				echo "$unit: SystemCallFilter=~$denied takes away $call"
				exit 1
			fi
		done
	done
	echo "syscall filter allows $call"
done
