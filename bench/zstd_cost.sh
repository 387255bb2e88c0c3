#!/usr/bin/env bash
# bench/zstd_cost.sh - what `-o FILE.zst` costs and saves (issue 14 item 3):
# bytes per row and the CPU of compressing (scan) and decompressing (report).
#
#   bench/zstd_cost.sh [BUILD_DIR]        (from the repository root; loopback only)
#
# 1. Real rows: starts the demo lab (data/demo.lab) and scans it with the
#    demo's matrix and --repeat R (ZSTD_BENCH_REPEAT, default 40: ~8,300 rows),
#    once per output kind: .csv, .csv.zst, .jsonl, .jsonl.zst. Prints bytes
#    per row of each and the ratio. (Scans of the same lab differ only in
#    times and the flaky node, so sizes compare.)
# 2. Writer CPU: `scan --dry-run` of the same lab with a large --repeat
#    (ZSTD_BENCH_DRY, default 1000, the most --repeat takes: ~208,000
#    planned rows), -o .csv against
#    -o .csv.zst, user+sys from bench/rusage; the difference per row is the
#    CPU the zstd writer adds. Planned rows have many empty cells, so a real
#    row (longer) costs more: step 3 measures that.
# 3. Real rows in bulk: the step-1 CSV repeated K times (ZSTD_BENCH_COPIES,
#    default 40), compressed with `zstd -3` (libzstd at the writer's level;
#    the writer's 1 MiB frames differ by < 1%), and read by `report` as .csv
#    and as .zst: compression and decompression CPU per row.
#
# Every run is bounded by `timeout`; run it under `nsrun` (or as root it
# enters a private network namespace itself) so the lab's fixed addresses do
# not collide with other labs.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-${ES_BUILD_DIR:-build}}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
ES="$BUILD/edgeshake"
REPEAT=${ZSTD_BENCH_REPEAT:-40}
DRY=${ZSTD_BENCH_DRY:-1000}
COPIES=${ZSTD_BENCH_COPIES:-40}

die() { printf 'zstd_cost: %s\n' "$*" >&2; exit 1; }
[ -x "$ES" ] || die "no $ES: run ./dev build first"
command -v zstd >/dev/null || die "the zstd command is missing (apt-get install zstd)"
command -v cc >/dev/null || die "no C compiler for bench/rusage.c"

if [ "$(id -u)" = 0 ] && [ -z "${ZSTD_BENCH_NS:-}" ] && unshare -n true 2>/dev/null; then
    # shellcheck disable=SC2016 # $0 and $@ are the inner shell's
    exec env ZSTD_BENCH_NS=1 unshare -n sh -c 'ip link set lo up && exec "$0" "$@"' "$0" "$@"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/edgeshake-zstd-XXXXXX")
LAB_PID=
cleanup() {
    [ -n "$LAB_PID" ] && kill "$LAB_PID" 2>/dev/null && wait "$LAB_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

cc -O2 -o "$WORK/rusage" "$ROOT/bench/rusage.c" || die "cannot build bench/rusage.c"

"$ES" lab "$ROOT/data/demo.lab" --state "$WORK/lab" 2>"$WORK/lab.log" &
LAB_PID=$!
for _ in $(seq 300); do [ -e "$WORK/lab/ready" ] && break; sleep 0.1; done
[ -e "$WORK/lab/ready" ] || die "the lab did not start: $(tail -1 "$WORK/lab.log")"
read -r -a LAB_ARGS <"$WORK/lab/scan.args"
# shellcheck disable=SC2054 # h2,http/1.1 is one ALPN list
MATRIX=(--tls 1.2 --tls 1.3 --alpn h2,http/1.1 --alpn h2 --sni host --sni none --h2-check
        -c 64 --timeout 10000 -q)

# cpu_s FILE: user + sys seconds from a bench/rusage line
cpu_s() { awk '{ printf "%.3f", $2 + $3 }' "$1"; }
rows_of() { if [ "${1%.zst}" != "$1" ]; then zstd -dcq "$1"; else cat "$1"; fi | wc -l; }

echo "edgeshake -o FILE.zst: size and CPU (bench/zstd_cost.sh)"
echo "machine: $(nproc) cores, $(uname -sr), $(zstd -V | head -1)"
echo
echo "1. real rows: demo lab, demo matrix, --repeat $REPEAT"
printf '   %-12s %10s %8s %10s %7s\n' output bytes rows bytes/row ratio
for f in scan.csv scan.csv.zst scan.jsonl scan.jsonl.zst; do
    timeout 300 "$ES" scan "${LAB_ARGS[@]}" "${MATRIX[@]}" --repeat "$REPEAT" -o "$WORK/$f"
done
for f in scan.csv scan.csv.zst scan.jsonl scan.jsonl.zst; do
    bytes=$(stat -c %s "$WORK/$f")
    rows=$(rows_of "$WORK/$f")
    case $f in *.csv*) rows=$((rows - 1)) ;; esac # the header
    plain=$(stat -c %s "$WORK/${f%.zst}")
    printf '   %-12s %10d %8d %10.1f %6.1fx\n' "$f" "$bytes" "$rows" \
        "$(echo "$bytes $rows" | awk '{ print $1 / $2 }')" \
        "$(echo "$plain $bytes" | awk '{ print $1 / $2 }')"
done

echo
echo "2. writer CPU: scan --dry-run --repeat $DRY (planned rows, no probes)"
for f in dry.csv dry.csv.zst; do
    timeout 600 "$WORK/rusage" "$WORK/$f.ru" "$ES" scan "${LAB_ARGS[@]}" "${MATRIX[@]}" \
        --dry-run --repeat "$DRY" -o "$WORK/$f"
done
drows=$(($(rows_of "$WORK/dry.csv") - 1))
c0=$(cpu_s "$WORK/dry.csv.ru")
c1=$(cpu_s "$WORK/dry.csv.zst.ru")
printf '   %d rows, %.1f bytes/row as CSV, %.1f as .zst (%.1fx)\n' "$drows" \
    "$(echo "$(stat -c %s "$WORK/dry.csv") $drows" | awk '{ print $1 / $2 }')" \
    "$(echo "$(stat -c %s "$WORK/dry.csv.zst") $drows" | awk '{ print $1 / $2 }')" \
    "$(echo "$(stat -c %s "$WORK/dry.csv") $(stat -c %s "$WORK/dry.csv.zst")" |
        awk '{ print $1 / $2 }')"
printf '   scan CPU: %s s as .csv, %s s as .csv.zst: +%.2f us per row for zstd\n' "$c0" "$c1" \
    "$(echo "$c0 $c1 $drows" | awk '{ print ($2 - $1) * 1e6 / $3 }')"

echo
echo "3. real rows in bulk: the step-1 CSV x $COPIES"
{
    head -1 "$WORK/scan.csv"
    for _ in $(seq "$COPIES"); do tail -n +2 "$WORK/scan.csv"; done
} >"$WORK/bulk.csv"
brows=$(($(wc -l <"$WORK/bulk.csv") - 1))
timeout 300 "$WORK/rusage" "$WORK/zc.ru" zstd -q -3 -f "$WORK/bulk.csv" -o "$WORK/bulk.csv.zst"
for f in bulk.csv bulk.csv.zst; do
    timeout 300 "$WORK/rusage" "$WORK/$f.rep.ru" "$ES" report --format csv -o /dev/null \
        "$WORK/$f"
done
r0=$(cpu_s "$WORK/bulk.csv.rep.ru")
r1=$(cpu_s "$WORK/bulk.csv.zst.rep.ru")
printf '   %d rows, %.1f MB as CSV, %.1f bytes/row as .zst\n' "$brows" \
    "$(stat -c %s "$WORK/bulk.csv" | awk '{ print $1 / 1e6 }')" \
    "$(echo "$(stat -c %s "$WORK/bulk.csv.zst") $brows" | awk '{ print $1 / $2 }')"
printf '   compress (zstd -3, the writer'"'"'s level): %s s CPU, %.2f us per row\n' \
    "$(cpu_s "$WORK/zc.ru")" "$(echo "$(cpu_s "$WORK/zc.ru") $brows" | awk '{ print $1 * 1e6 / $2 }')"
printf '   report CPU: %s s from .csv, %s s from .zst: +%.2f us per row to decompress\n' \
    "$r0" "$r1" "$(echo "$r0 $r1 $brows" | awk '{ print ($2 - $1) * 1e6 / $3 }')"
