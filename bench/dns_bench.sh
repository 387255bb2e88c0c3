#!/bin/sh
# dns_bench.sh - names x resolvers resolved per second against lab resolvers,
# and the scanner's CPU per resolution (DESIGN §4: >= 50,000 per second per core).
#
# usage: bench/dns_bench.sh [BUILD_DIR] [dns_bench options: -n NAMES -r RESOLVERS
#                           -c MAX_INFLIGHT -f 4|6|both -w WINDOW -k ROUNDS]
# Builds bench/dns_bench.c against BUILD_DIR/libedgeshake.a (default: build),
# starts `edgeshake lab` on 127.20.250.x in its own process, and prints one
# line per round. Loopback only; run by hand, never from the test suite.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
case "$build" in -*) build=build ;; *) [ $# -gt 0 ] && shift ;; esac
case "$build" in /*) ;; *) build="$root/$build" ;; esac
[ -f "$build/build.ninja" ] || { echo "dns_bench: no build in $build; run ./dev build first" >&2; exit 1; }
if ! out=$(ninja -C "$build" edgeshake libedgeshake.a 2>&1); then
    printf '%s\n' "$out" >&2
    echo "dns_bench: the build failed" >&2
    exit 1
fi
cc -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -I"$root/include" \
    "$root/bench/dns_bench.c" "$build/libedgeshake.a" \
    $(pkg-config --libs libcares openssl liburing libxxhash) -pthread \
    -o "$build/dns_bench"
exec "$build/dns_bench" "$build/edgeshake" "$@"
