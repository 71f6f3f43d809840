#!/usr/bin/env bash
# Kill and resume: a training run that is killed with SIGKILL at random
# moments and resumed from its last checkpoint each time ends exactly where
# the uninterrupted run ends.
#
#   kill_resume.sh GENET_RT KILLS [BACKEND...]     (default backends: serial cpu;
#                                                   cuda: exit 77 without a GPU)
#
# KILL_OPTS adds training options to every run (e.g. an optimizer and a
# learning-rate schedule, whose state must survive the kills too).
#
# For each backend: an uninterrupted reference run (--json, final
# checkpoint); then runs with --checkpoint-every 3 that are killed with
# kill -9 after a random delay and resumed with --resume, until KILLS kills
# have landed (a chain that reaches the end before that is compared and a
# new one started). Checked:
#   - every resume starts from the step of the checkpoint file on disk at
#     that moment: the last complete checkpoint (never a torn one);
#   - every completed chain's --json summary equals the reference's in every
#     field but timing (loss, accuracy, test accuracy, groups, edges,
#     duplications, refused, steps, epochs) and, on serial, its final
#     checkpoint is byte-for-byte the reference's;
#   - serial and cpu references agree (bitwise backends);
#   - SIGTERM and SIGINT stop a run with status 143 and 130, a message and a
#     checkpoint, and the resumed run again ends at the reference.
# KILL_SEED=N replays the random delays of a failed run.
set -euo pipefail
rt=$1 kills=$2
shift 2
backends=("$@")
[ ${#backends[@]} -eq 0 ] && backends=(serial cpu)
seed=${KILL_SEED:-$(( $(date +%s%N) % 1000000007 ))}
RANDOM=$((seed % 32768))
echo "kill_resume: $kills kills per backend (${backends[*]}), KILL_SEED=$seed${KILL_OPTS:+, options $KILL_OPTS}"
dir=$(mktemp -d "${TMPDIR:-/tmp}/gn-kill.XXXXXX")
trap 'rm -rf "$dir"' EXIT

# 4 classes of 24 features; 3000 training rows: 94 steps of 32 per epoch.
awk 'BEGIN { srand(11); print "label,f";
  for (i = 0; i < 3600; i++) { c = i % 4; printf "%d", c;
    for (k = 0; k < 24; k++) printf ",%.3f", (k % 4 == c ? 0.45 : 0.3) + 0.5 * rand(); print "" } }' \
  > "$dir/all.csv"
head -3001 "$dir/all.csv" > "$dir/k-train.csv"
{ head -1 "$dir/all.csv"; tail -600 "$dir/all.csv"; } > "$dir/k-test.csv"

opts=(--epochs 3 --batch 32 --group-size 8 --grow alternate --grow-every 7
      --grow-threshold 0.1 --max-groups 256 --lr 0.05 --threads 2 --stats-interval 0 --quiet
      --json)
# shellcheck disable=SC2206 # KILL_OPTS is a list of words
opts+=(${KILL_OPTS:-})

fail() { echo "FAIL: $*"; exit 1; }

# The summary without its timing fields, its backend name and its kernel
# launches: those count what this process did, and a kill that lands after
# the last checkpoint (the whole run's) leaves the resume nothing to launch
# (a chain on cuda then ends with 0 where the reference has 1: seen on an
# H200 once the run got fast enough to finish inside the kill window).
summary() {
    sed -E 's/"(seconds|steps_per_s|kernel_launches)": [0-9.e+-]+, //g; s/"backend": "[a-z]+", //; s/, "phases": \{[^}]*\}//; s/, "open_parts": \{[^}]*\}//' "$1"
}

# The step a checkpoint file holds (header offset 112, little-endian int64).
ckpt_step() { od -An -t d8 -j 112 -N 8 "$1" | tr -d ' '; }

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# cuda: the kernel pauses at every checkpoint step for the host to copy
# the model (suite 'gpu'); skip (77) where no usable GPU or cuda backend
. "$(dirname "$0")/cuda_probe.sh"
for b in "${backends[@]}"; do
    if [ "$b" = cuda ]; then gn_cuda_probe "$rt" "$dir/k-train.csv" "$dir/probe.log"; fi
done

ref_json=()
for b in "${backends[@]}"; do
    # the reference writes the same periodic checkpoints (they take most of
    # the time), so its duration is the killed runs' duration
    t0=$(now_ms)
    "$rt" train "$dir/k-train.csv" --backend "$b" "${opts[@]}" --checkpoint "$dir/ref-$b.ckpt" \
        --checkpoint-every 3 > "$dir/ref-$b.json" 2> "$dir/ref-$b.log" ||
        { cat "$dir/ref-$b.log"; fail "$b reference run"; }
    dur=$(( $(now_ms) - t0 ))
    ref_json+=("$dir/ref-$b.json")
    echo "$b reference (${dur} ms): $(summary "$dir/ref-$b.json")"

    # The start-up (data, open) of a run, then a delay up to twice the
    # training time shared out over the kills: a chain takes about KILLS
    # kills to reach the end, and most kills land while it trains.
    t0=$(now_ms)
    "$rt" train "$dir/k-train.csv" --backend "$b" "${opts[@]}" --steps 1 > /dev/null 2>&1
    startup=$(( $(now_ms) - t0 ))
    train_ms=$(( dur > startup ? dur - startup : 1 ))
    span=$(( 2 * train_ms / kills + 20 ))
    ck=$dir/run-$b.ckpt
    rm -f "$ck" "$ck.tmp"
    landed=0 chains=0 resumes=0 attempt=0
    while [ $landed -lt "$kills" ]; do
        attempt=$((attempt + 1))
        args=()
        want=0
        if [ -f "$ck" ]; then
            args=(--resume "$ck")
            want=$(ckpt_step "$ck")
        fi
        "$rt" train "$dir/k-train.csv" --backend "$b" "${opts[@]}" --checkpoint "$ck" \
            --checkpoint-every 3 "${args[@]}" > "$dir/out.json" 2> "$dir/run.log" &
        pid=$!
        delay=$(( startup + RANDOM % span ))
        sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
        kill -9 $pid 2> /dev/null || true
        set +e
        wait $pid 2> /dev/null
        rc=$?
        set -e
        if [ ${#args[@]} -gt 0 ] && grep -q "resumed from" "$dir/run.log"; then
            got=$(sed -nE 's/^resumed from .* at step ([0-9]+) .*/\1/p' "$dir/run.log")
            [ "$got" = "$want" ] || fail "$b: resumed at step $got, the checkpoint on disk held $want"
            resumes=$((resumes + 1))
        fi
        if grep -qE "training failed|cannot|genet-rt: --resume|does not belong" "$dir/run.log"; then
            cat "$dir/run.log"
            fail "$b: attempt $attempt failed"
        fi
        if [ $rc -eq 137 ]; then
            landed=$((landed + 1))
            continue
        fi
        [ $rc -eq 0 ] || { cat "$dir/run.log"; fail "$b: attempt $attempt exited $rc"; }
        # the chain reached the end: compare with the reference
        chains=$((chains + 1))
        [ "$(summary "$dir/out.json")" = "$(summary "$dir/ref-$b.json")" ] ||
            fail "$b: chain $chains ends with $(summary "$dir/out.json")"
        if [ "$b" = serial ]; then
            cmp -s "$ck" "$dir/ref-$b.ckpt" || fail "$b: chain $chains: final checkpoint differs"
        fi
        rm -f "$ck" "$ck.tmp"
    done
    # finish the last chain
    if [ -f "$ck" ]; then
        want=$(ckpt_step "$ck")
        "$rt" train "$dir/k-train.csv" --backend "$b" "${opts[@]}" --checkpoint "$ck" \
            --resume "$ck" > "$dir/out.json" 2> "$dir/run.log" || { cat "$dir/run.log"; fail "$b: last resume"; }
        got=$(sed -nE 's/^resumed from .* at step ([0-9]+) .*/\1/p' "$dir/run.log")
        [ "$got" = "$want" ] || fail "$b: resumed at step $got, the checkpoint on disk held $want"
        resumes=$((resumes + 1))
        chains=$((chains + 1))
        [ "$(summary "$dir/out.json")" = "$(summary "$dir/ref-$b.json")" ] ||
            fail "$b: the last chain ends with $(summary "$dir/out.json")"
        if [ "$b" = serial ]; then
            cmp -s "$ck" "$dir/ref-$b.ckpt" || fail "$b: the last chain's final checkpoint differs"
        fi
    fi
    echo "$b: $landed kills in $attempt runs (start-up ${startup} ms, delays up to $((startup + span)) ms)," \
        "$resumes resumes, $chains chains: all match the reference"
done

if [ ${#ref_json[@]} -ge 2 ]; then
    [ "$(summary "${ref_json[0]}")" = "$(summary "${ref_json[1]}")" ] ||
        fail "the ${backends[0]} and ${backends[1]} references differ"
fi

# SIGTERM and SIGINT: status, message, checkpoint, resume. A longer run
# (20 epochs) with a checkpoint every step, so it is still training when the
# signal comes, and its own uninterrupted reference.
b=${backends[0]}
long=("${opts[@]}" --epochs 20)
"$rt" train "$dir/k-train.csv" --backend "$b" "${long[@]}" > "$dir/ref-long.json" 2> /dev/null ||
    fail "the 20-epoch reference run"
for sig in TERM INT; do
    want_rc=$([ $sig = TERM ] && echo 143 || echo 130)
    ck=$dir/sig-$sig.ckpt
    rm -f "$ck"
    "$rt" train "$dir/k-train.csv" --backend "$b" "${long[@]}" --checkpoint "$ck" \
        --checkpoint-every 1 > "$dir/out.json" 2> "$dir/run.log" &
    pid=$!
    for _ in $(seq 500); do [ -f "$ck" ] && break; sleep 0.01; done
    [ -f "$ck" ] || { cat "$dir/run.log"; fail "SIG$sig: no checkpoint within 5 s"; }
    kill -$sig $pid || fail "SIG$sig: the run ended before the signal"
    set +e
    wait $pid
    rc=$?
    set -e
    [ $rc -eq "$want_rc" ] || { cat "$dir/run.log"; fail "SIG$sig: exit status $rc, expected $want_rc"; }
    grep -q "stopped by SIG$sig" "$dir/run.log" || { cat "$dir/run.log"; fail "SIG$sig: no message"; }
    grep -q "checkpoint of step" "$dir/run.log" || { cat "$dir/run.log"; fail "SIG$sig: no checkpoint"; }
    step=$(ckpt_step "$ck")
    "$rt" train "$dir/k-train.csv" --backend "$b" "${long[@]}" --checkpoint "$ck" --resume "$ck" \
        > "$dir/out.json" 2> "$dir/run.log" || { cat "$dir/run.log"; fail "SIG$sig: resume"; }
    [ "$(summary "$dir/out.json")" = "$(summary "$dir/ref-long.json")" ] ||
        fail "SIG$sig: the resumed run ends with $(summary "$dir/out.json")"
    echo "SIG$sig: exit $rc, checkpoint at step $step, the resumed run matches its reference"
done
echo "PASS"
