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
