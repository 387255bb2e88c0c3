#!/bin/bash
# test_deploy.sh - the Slurm recipes of deploy/slurm/ without Slurm (issue 14
# item 6): each script runs with the environment Slurm would give it, with
# stub `sbatch` and `sinfo` commands that record what they were asked, and
# with the real edgeshake doing dry-run scans (IP targets: no DNS, no packet).
#
#  - submit.sh turns the environment into sbatch options and refuses a task
#    that no node can hold (Slurm would leave it pending forever);
#  - edgeshake.sbatch: the whole array, the guard, a rerun of one shard with
#    SHARDS set (--array=2), no second merge after a requeue;
#  - merge.sbatch refuses while a shard is missing or failed and names the
#    rerun, then reports over all shards once they are there.
# Also lints the scripts with shellcheck when it is installed.
#
# Run by meson (tests/meson.build) with ES_BIN and ES_SRCDIR set.
set -uo pipefail

ES_BIN=${ES_BIN:?} ES_SRCDIR=${ES_SRCDIR:?}
SLURM=$ES_SRCDIR/deploy/slurm
T=$(mktemp -d "${TMPDIR:-/tmp}/edgeshake-deploy-XXXXXX")
trap 'rm -rf "$T"' EXIT
fails=0 checks=0

ok() { checks=$((checks + 1)); }
bad() {
    checks=$((checks + 1)) fails=$((fails + 1))
    echo "FAIL: $*"
}
# expect_in WHAT TEXT SUBSTRING
expect_in() {
    if [[ $2 == *"$3"* ]]; then ok; else bad "$1: '$3' not in: $2"; fi
}
expect_not_in() {
    if [[ $2 != *"$3"* ]]; then ok; else bad "$1: '$3' in: $2"; fi
}
expect_eq() {
    if [ "$2" = "$3" ]; then ok; else bad "$1: got '$2', want '$3'"; fi
}

# Stubs: sbatch records its arguments (one call per line) and prints a job
# id; sinfo prints the node list of $T/nodes.
mkdir -p "$T/bin"
cat >"$T/bin/sbatch" <<'EOF'
#!/bin/sh
printf '%s\n' "$*" >>"$STUB_LOG"
echo 4242
EOF
cat >"$T/bin/sinfo" <<'EOF'
#!/bin/sh
cat "$STUB_NODES"
EOF
chmod +x "$T/bin/sbatch" "$T/bin/sinfo"
export PATH="$T/bin:$PATH" STUB_LOG="$T/sbatch.log" STUB_NODES="$T/nodes"

# ---- submit.sh --------------------------------------------------------------
printf '1.2.3.4\n' >"$T/targets.txt"
printf '2 1900\n8 15000\n' >"$T/nodes"
out=$(cd "$T" && TARGETS=$T/targets.txt SHARDS=64 PARALLEL=16 CPUS=8 MEM=8G TIME=02:00:00 \
    PARTITION=scan "$SLURM/submit.sh" -r eu=192.0.2.53 --h2-check 2>&1)
expect_eq "submit: exit" "$?" 0
log=$(cat "$T/sbatch.log")
expect_in "submit: array and throttle" "$log" "--array=0-63%16 --cpus-per-task=8 --mem=8G --time=02:00:00 --export=ALL --partition=scan"
expect_in "submit: script and scan args" "$log" "/deploy/slurm/edgeshake.sbatch -r eu=192.0.2.53 --h2-check"
rm -f "$T/sbatch.log"

# a task that fits no node: refused before sbatch, with the reason
out=$(cd "$T" && TARGETS=$T/targets.txt CPUS=16 MEM=4G "$SLURM/submit.sh" 2>&1)
expect_eq "submit: too big: exit" "$?" 2
expect_in "submit: too big" "$out" "no node has 16 CPUs and 4G of memory (the largest: 8 CPUs, 15000 MB); Slurm would leave the job pending forever"
out=$(cd "$T" && TARGETS=$T/targets.txt CPUS=2 MEM=16G "$SLURM/submit.sh" 2>&1)
expect_eq "submit: too much memory: exit" "$?" 2
expect_in "submit: too much memory" "$out" "pending forever"
expect_eq "submit: nothing submitted" "$(cat "$T/sbatch.log" 2>/dev/null)" ""
# a rerun of two shards; DRY_RUN prints instead of submitting
out=$(cd "$T" && TARGETS=$T/targets.txt SHARDS=8 ONLY=3,5 CPUS=2 MEM=1G DRY_RUN=1 "$SLURM/submit.sh" 2>&1)
expect_in "submit: ONLY" "$out" "sbatch --array=3,5 --cpus-per-task=2 --mem=1G"
out=$(cd "$T" && TARGETS=$T/targets.txt SHARDS=8 ONLY=9 "$SLURM/submit.sh" 2>&1)
expect_in "submit: ONLY out of range" "$out" "ONLY=9: shard 9 is not below SHARDS=8"
out=$(cd "$T" && TARGETS=$T/targets.txt SHARDS=x "$SLURM/submit.sh" 2>&1)
expect_in "submit: bad SHARDS" "$out" "SHARDS must be a whole number above 0, got 'x'"
out=$(cd "$T" && TARGETS=$T/targets.txt MEM=lots "$SLURM/submit.sh" 2>&1)
expect_in "submit: bad MEM" "$out" "MEM must be like 2G or 1500M, got 'lots'"
rm -f "$T/sbatch.log"

# ---- edgeshake.sbatch and merge.sbatch, with real dry-run scans -------------
# 40 IP targets (127.0.0.0/8, never contacted: --dry-run) over 4 shards.
for i in $(seq 1 40); do echo "127.90.0.$i:8443"; done >"$T/fleet.txt"
OUTD=$T/out
# task I of an array MIN-MAX with COUNT tasks, extra environment in "$@"
run_task() {
    local id=$1 min=$2 max=$3 count=$4
    shift 4
    (cd "$T" && env -u SHARDS SLURM_ARRAY_TASK_ID="$id" SLURM_ARRAY_TASK_MIN="$min" \
        SLURM_ARRAY_TASK_MAX="$max" SLURM_ARRAY_TASK_COUNT="$count" SLURM_ARRAY_JOB_ID=777 \
        SLURM_SUBMIT_DIR="$T" SLURM_CPUS_PER_TASK=1 EDGESHAKE_SLURM_DIR="$SLURM" \
        TARGETS="$T/fleet.txt" REGION=site-a OUT="$OUTD" EDGESHAKE="$ES_BIN" "$@" \
        bash "$SLURM/edgeshake.sbatch" --dry-run --tls 1.3 2>&1)
}
for i in 0 1 2 3; do
    out=$(run_task "$i" 0 3 4)
    expect_eq "task $i of 0-3: exit ($out)" "$?" 0
done
expect_eq "one merge submitted (by task 0)" "$(wc -l <"$T/sbatch.log")" 1
expect_in "merge after any end of the array" "$(cat "$T/sbatch.log")" "--dependency=afterany:777"
expect_in "merge script" "$(cat "$T/sbatch.log")" "deploy/slurm/merge.sbatch"
rows=0
for i in 0 1 2 3; do
    f=$OUTD/site-a-shard-$i.csv
    meta=$(cat "$f.meta.json")
    expect_in "shard $i meta" "$meta" "\"shard\":\"$i/4\""
    expect_in "shard $i meta" "$meta" '"exit_status":0}'
    expect_in "shard $i politeness" "$meta" '"--per-ip","1","--rate","250"'
    rows=$((rows + $(wc -l <"$f") - 1))
done
expect_eq "4 shards hold every target once" "$rows" 40

# the guard: a part of the array without SHARDS
out=$(run_task 3 3 3 1)
expect_eq "--array=3 without SHARDS: exit" "$?" 2
expect_in "--array=3 without SHARDS" "$out" "--array 3-3 has tasks outside 0-0 for 1 shards; to run some shards of N again, set SHARDS=N"
out=$(run_task 0 0 7 4) # --array=0-7:2 (step 2): 4 tasks up to 7
expect_eq "--array with a step: exit" "$?" 2
out=$(run_task 1 1 3 3)
expect_eq "--array=1-3 without SHARDS: exit" "$?" 2

# merge while shard 2 failed and shard 3 never ran: no report, the rerun named
cp "$OUTD/site-a-shard-2.csv.meta.json" "$T/meta2"
sed -i 's/"exit_status":0}/"exit_status":130}/' "$OUTD/site-a-shard-2.csv.meta.json"
mv "$OUTD/site-a-shard-3.csv.meta.json" "$T/meta3"
out=$(SHARDS=4 REGION=site-a OUT="$OUTD" EDGESHAKE="$ES_BIN" bash "$SLURM/merge.sbatch" 2>&1)
expect_eq "merge with failed shards: exit" "$?" 1
expect_in "merge names the failed shard" "$out" "shard 2 (exit status 130, see $OUTD/site-a-shard-2.csv.meta.json)"
expect_in "merge names the missing shard" "$out" "shard 3 (no $OUTD/site-a-shard-3.csv.meta.json"
expect_in "merge prints the rerun" "$out" "sbatch --array=2,3 --export=ALL,SHARDS=4,REGION=site-a"
if [ -e "$OUTD/findings.csv" ]; then bad "merge wrote findings.csv over missing shards"; else ok; fi

# rerun shard 2 alone (SHARDS set): it runs, and submits the merge after it
rm -f "$T/sbatch.log" "$OUTD/site-a-shard-2.csv.meta.json"
out=$(run_task 2 2 2 1 SHARDS=4)
expect_eq "rerun --array=2 SHARDS=4: exit ($out)" "$?" 0
expect_in "rerun shard meta" "$(cat "$OUTD/site-a-shard-2.csv.meta.json")" '"shard":"2/4"'
expect_in "rerun submits the merge" "$(cat "$T/sbatch.log")" "--dependency=afterany:777"
# a requeued task (scontrol requeue) does not submit a second merge
rm -f "$T/sbatch.log"
out=$(run_task 3 0 3 4 SLURM_RESTART_COUNT=1)
expect_eq "requeued task 3: exit ($out)" "$?" 0
expect_eq "requeued task: no merge" "$(cat "$T/sbatch.log" 2>/dev/null)" ""

# every shard there: the merge reports (text in its log, csv and html files)
out=$(SHARDS=4 REGION=site-a OUT="$OUTD" EDGESHAKE="$ES_BIN" bash "$SLURM/merge.sbatch" 2>&1)
expect_eq "merge: exit ($out)" "$?" 0
if [ -s "$OUTD/findings.csv" ] && [ -s "$OUTD/report.html" ]; then ok; else bad "merge: no findings.csv/report.html"; fi
expect_in "merge: text report over 4 files" "$out" "4 files"

# ---- the sbatch --wrap example and the comments ------------------------------
sb=$(cat "$SLURM/edgeshake.sbatch")
expect_in "--wrap example uses --format text" "$sb" "--wrap='edgeshake report --format text"
expect_not_in "no afterok merge" "$sb" "--dependency=afterok"
doc=$(cat "$ES_SRCDIR/docs/scale-out.md")
expect_in "docs: divide by the tasks at once" "$doc" "--per-ip = floor(fleet_per_ip / (P × V))"
expect_in "sbatch: divide by the tasks at once" "$sb" "by the tasks that run at the same time"

# ---- Containerfile -------------------------------------------------------------
cf=$(cat "$ES_SRCDIR/deploy/Containerfile")
expect_in "Containerfile: ARG BASE" "$cf" "ARG BASE=debian:12-slim"
# shellcheck disable=SC2016 # a literal ${BASE}
expect_eq "Containerfile: both stages FROM \$BASE" "$(grep -c '^FROM ${BASE}' "$ES_SRCDIR/deploy/Containerfile")" 2
for p in libnghttp2-dev libzstd-dev libnghttp2-14 libzstd1; do
    expect_in "Containerfile: $p" "$cf" "$p"
done

# ---- shellcheck ------------------------------------------------------------------
if command -v shellcheck >/dev/null 2>&1; then
    if lint=$(shellcheck -s bash "$SLURM/edgeshake.sbatch" "$SLURM/merge.sbatch" "$SLURM/submit.sh" 2>&1); then
        ok
    else
        bad "shellcheck: $lint"
    fi
else
    echo "(shellcheck not installed: lint skipped)"
fi

echo "$checks checks, $fails failures"
[ "$fails" = 0 ]
