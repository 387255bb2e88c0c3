#!/bin/bash
# submit.sh - submit deploy/slurm/edgeshake.sbatch with its resources taken
# from the environment (docs/scale-out.md), after checking that some node
# can hold one task: Slurm leaves a job pending forever, without an error,
# when no node of the partition has the CPUs or memory it asks for.
#
#   TARGETS=$PWD/targets.txt deploy/slurm/submit.sh [SCAN ARGS...]
#
# Environment (defaults in brackets):
#   TARGETS     the target list, on a file system every node sees (required)
#   REGION      the vantage label [the node's short host name]
#   SHARDS      N, the number of shards [8]
#   PARALLEL    at most P tasks at once (the array throttle %P) [no limit]
#   ONLY        run only these shards again, e.g. 3 or 1,5 (a rerun) [all]
#   CPUS        CPUs per task, also edgeshake's -t [4]
#   MEM         memory per task, Slurm's units (2G, 1500M) [2G]
#   TIME        time limit per task [06:00:00]
#   PARTITION, ACCOUNT, QOS   passed on when set
#   OUT         the output directory [$PWD/edgeshake-out]
#   PER_IP, RATE, EDGESHAKE, NO_MERGE   passed to edgeshake.sbatch
#   DRY_RUN=1   print the sbatch command instead of running it
# Arguments go to `edgeshake scan` (resolvers, the variant matrix...).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
die() {
    echo "submit.sh: $*" >&2
    exit 2
}

: "${TARGETS:?set TARGETS to the target list (one per line)}"
SHARDS=${SHARDS:-8}
CPUS=${CPUS:-4}
MEM=${MEM:-2G}
TIME=${TIME:-06:00:00}
OUT=${OUT:-$PWD/edgeshake-out}
[[ $SHARDS =~ ^[1-9][0-9]*$ ]] || die "SHARDS must be a whole number above 0, got '$SHARDS'"
[[ $CPUS =~ ^[1-9][0-9]*$ ]] || die "CPUS must be a whole number above 0, got '$CPUS'"
[[ ${PARALLEL:-1} =~ ^[1-9][0-9]*$ ]] || die "PARALLEL must be a whole number above 0, got '$PARALLEL'"
[[ ${ONLY:-0} =~ ^[0-9]+(,[0-9]+)*$ ]] || die "ONLY must be shard numbers like 3 or 1,5, got '$ONLY'"
[ -r "$TARGETS" ] || die "TARGETS=$TARGETS: cannot read it"

# MEM in MB (Slurm's default unit is M).
mem_mb() {
    local v=$1 n u
    [[ $v =~ ^([0-9]+)([KkMmGgTt]?)[Bb]?$ ]] || die "MEM must be like 2G or 1500M, got '$v'"
    n=${BASH_REMATCH[1]} u=${BASH_REMATCH[2]}
    case $u in
    K | k) echo $(((n + 1023) / 1024)) ;;
    G | g) echo $((n * 1024)) ;;
    T | t) echo $((n * 1024 * 1024)) ;;
    *) echo "$n" ;;
    esac
}
need_mb=$(mem_mb "$MEM")

# Does some node (of PARTITION) have CPUS CPUs and MEM memory? sinfo prints
# one line per node: CPUs and memory in MB.
if command -v sinfo >/dev/null 2>&1; then
    part=()
    [ -n "${PARTITION:-}" ] && part=(-p "$PARTITION")
    if nodes=$(sinfo -h -N "${part[@]}" -o '%c %m' 2>/dev/null) && [ -n "$nodes" ]; then
        fits=$(awk -v c="$CPUS" -v m="$need_mb" '$1 + 0 >= c && $2 + 0 >= m { n++ } END { print n + 0 }' <<<"$nodes")
        if [ "$fits" = 0 ]; then
            big=$(awk '$1 + 0 > c { c = $1 } $2 + 0 > m { m = $2 } END { print c " CPUs, " m " MB" }' <<<"$nodes")
            die "no node${PARTITION:+ of partition $PARTITION} has $CPUS CPUs and $MEM of memory" \
                "(the largest: $big); Slurm would leave the job pending forever. Lower CPUS or MEM."
        fi
    else
        echo "submit.sh: sinfo gave no node list; not checking that a task fits a node" >&2
    fi
fi

if [ -n "${ONLY:-}" ]; then
    array=$ONLY
    for i in ${ONLY//,/ }; do
        [ "$i" -lt "$SHARDS" ] || die "ONLY=$ONLY: shard $i is not below SHARDS=$SHARDS"
    done
else
    array=0-$((SHARDS - 1))
fi
[ -n "${PARALLEL:-}" ] && array+="%$PARALLEL"

args=(--array="$array" --cpus-per-task="$CPUS" --mem="$MEM" --time="$TIME" --export=ALL)
[ -n "${PARTITION:-}" ] && args+=(--partition="$PARTITION")
[ -n "${ACCOUNT:-}" ] && args+=(--account="$ACCOUNT")
[ -n "${QOS:-}" ] && args+=(--qos="$QOS")
args+=(--output="$OUT/edgeshake-%A_%a.log")

# edgeshake.sbatch reads these from the environment (--export=ALL).
export TARGETS SHARDS OUT
export EDGESHAKE_SLURM_DIR=$HERE
mkdir -p "$OUT"
if [ -n "${DRY_RUN:-}" ]; then
    line=sbatch
    for a in "${args[@]}" "$HERE/edgeshake.sbatch" "$@"; do
        if [[ $a =~ ^[A-Za-z0-9_@%+=:,./-]+$ ]]; then line+=" $a"; else line+=" ${a@Q}"; fi
    done
    echo "$line"
    exit 0
fi
exec sbatch "${args[@]}" "$HERE/edgeshake.sbatch" "$@"
