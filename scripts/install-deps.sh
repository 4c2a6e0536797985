#!/bin/sh
# Installs the Debian 12 packages netd needs to build and test, when they are
# missing. Only root can install; anyone else gets the apt-get line to run.
set -eu

pkgs="build-essential cmake pkg-config libevent-dev libjansson-dev libcmocka-dev socat go-md2man"
# The Node.js drop-in's differential tests (client-lib/node); Debian 12's nodejs (18) is enough.
pkgs="$pkgs nodejs"
# The Python client's tests (client-lib/python) need python3 >= 3.11 (Debian 12's).
pkgs="$pkgs python3"
# CI also fuzzes with clang's libFuzzer: NETD_FUZZ_DEPS=1 adds its packages.
[ "${NETD_FUZZ_DEPS:-0}" = 1 ] && pkgs="$pkgs clang libclang-rt-14-dev"
missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "netd: missing build packages:$missing" >&2
	echo "netd: run as root, or: sudo apt-get install$missing" >&2
	exit 1
fi
echo "netd: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing
