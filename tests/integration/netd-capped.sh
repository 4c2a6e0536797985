#!/bin/sh
# Runs netd ($NETD_REAL_BIN) as root with only the capabilities that
# systemd/netd-peruser.service grants: integration/access-capped shows
# they are enough (no CAP_DAC_OVERRIDE, CAP_CHOWN, CAP_SYS_PTRACE, ...).
exec setpriv --bounding-set=-all,+setuid,+setgid,+net_bind_service --inh-caps=-all \
	"$NETD_REAL_BIN" "$@"
