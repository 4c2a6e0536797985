#!/bin/sh
# Runs a libFuzzer target for N seconds (default 60): $NETD_FUZZ_TARGET, fuzz-rpc by default
# (tests/fuzz/fuzz-rpc.c: framing, envelope, every method),
# building it first with clang in build-fuzz/ (ASan, UBSan, LeakSanitizer). Exits non-zero
# on a crash, a leak, a timeout or a failed check; the reproducer is left in
# build-fuzz/fuzz-artifacts/ and can be replayed with: build-fuzz/tests/fuzz/fuzz-rpc FILE
#
#   scripts/fuzz.sh [SECONDS] [libFuzzer options...]
#
# Corpora: a temporary working directory (new inputs go there, so the repository is
# never written to; set NETD_FUZZ_CORPUS=DIR to keep and reuse one instead),
# tests/fuzz/seeds/ (one request per method, and a few sequences), and JSONTestSuite's
# test_parsing/ if present ($NETD_JSON_TEST_SUITE, by default ../shared/data/JSONTestSuite/
# test_parsing next to the repository). NETD_FUZZ_BUILD_DIR overrides build-fuzz/;
# NETD_FUZZ_VERBOSE=1 shows the daemon's log.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
[ $# -gt 0 ] && shift
case $seconds in
'' | *[!0-9]*)
	echo "usage: $0 [SECONDS] [libFuzzer options...]" >&2
	exit 2
	;;
esac
build=${NETD_FUZZ_BUILD_DIR:-$root/build-fuzz}
target=${NETD_FUZZ_TARGET:-fuzz-rpc}
suite=${NETD_JSON_TEST_SUITE:-$root/../shared/data/JSONTestSuite/test_parsing}

if [ ! -f "$build/CMakeCache.txt" ]; then
	cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DNETD_FUZZ=ON \
		-DNETD_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Debug
fi
cmake --build "$build" --target "$target"

if [ -n "${NETD_FUZZ_CORPUS:-}" ]; then
	work=$NETD_FUZZ_CORPUS
	mkdir -p "$work"
else
	work=$(mktemp -d /tmp/netd-fuzz-corpus-XXXXXX)
	trap 'rm -rf "$work"' EXIT
fi
set -- "$work" "$root/tests/fuzz/seeds" "$@"
if [ -d "$suite" ]; then
	set -- "$@" "$suite"
else
	echo "fuzz.sh: no JSONTestSuite at $suite; using the seeds only" >&2
fi
mkdir -p "$build/fuzz-artifacts"

status=0
"$build/tests/fuzz/$target" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
	-artifact_prefix="$build/fuzz-artifacts/" -print_final_stats=1 "$@" || status=$?
if [ "$status" -ne 0 ]; then
	echo "fuzz.sh: $target failed (exit $status); reproducers in $build/fuzz-artifacts/" >&2
fi
exit "$status"
