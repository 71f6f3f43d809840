#!/usr/bin/env bash
# Checkpoints on the cuda backend (suite 'gpu'; exit 77 where there is no
# usable GPU or no cuda backend in the build):
#   gpu_resume.sh GENET_RT
# The kernel runs the whole run, so the cuda backend writes a checkpoint at
# the end of a run and when it is stopped, and --resume uploads the restored
# model and starts the kernel at the restored step. Checked:
#   - a 60-step run stopped at --steps 30 (mid-epoch) and at 32 (an epoch's
#     end) and resumed ends with the uninterrupted run's --json summary;
#   - SIGINT halfway through a 20000-step run stops it with status 130 and a
#     checkpoint, and the resumed run ends with the uninterrupted run's
#     summary;
#   - (information only) the step-30 cuda checkpoint resumed on serial, which
#     agrees with cuda except where a growth statistic sits within ~1e-15 of
#     the threshold.
set -euo pipefail
rt=$1
dir=$(mktemp -d "${TMPDIR:-/tmp}/gn-gpu-resume.XXXXXX")
trap 'rm -rf "$dir"' EXIT
awk 'BEGIN { srand(5); print "label,f";
  for (i = 0; i < 6000; i++) { c = i % 10; printf "%d", c;
    for (k = 0; k < 64; k++) printf ",%.3f", (k % 10 == c ? 0.45 : 0.3) + 0.5 * rand(); print "" } }' \
  > "$dir/all.csv"
head -5001 "$dir/all.csv" > "$dir/r-train.csv"
{ head -1 "$dir/all.csv"; tail -1000 "$dir/all.csv"; } > "$dir/r-test.csv"
# 4096 examples in batches of 256: 16 steps per epoch
opts=(--batch 256 --limit-train 4096 --grow-every 10 --grow-threshold 0.02 --max-groups 128
      --stats-interval 0 --quiet --json)
summary() { sed -E 's/"(seconds|steps_per_s)": [0-9.e+-]+, //g; s/"backend": "[a-z]+", //; s/, "phases": \{[^}]*\}//; s/, "open_parts": \{[^}]*\}//' "$1"; }
fail() { echo "FAIL: $*"; exit 1; }

. "$(dirname "$0")/cuda_probe.sh"
gn_cuda_probe "$rt" "$dir/r-train.csv" "$dir/probe.log"

# --epochs fixes the learning-rate schedule's length (the cosine's end), so
# the runs cut short by --steps resume one another
cuda=(--backend cuda "${opts[@]}")
seg=(--epochs 4)
"$rt" train "$dir/r-train.csv" "${cuda[@]}" "${seg[@]}" --steps 60 > "$dir/ref.json" 2> "$dir/ref.log" ||
    { cat "$dir/ref.log"; fail "reference run"; }
echo "reference: $(summary "$dir/ref.json")"
for k in 30 32; do
    "$rt" train "$dir/r-train.csv" "${cuda[@]}" "${seg[@]}" --steps $k --checkpoint "$dir/part-$k.ckpt" \
        > /dev/null 2> "$dir/part.log" || { cat "$dir/part.log"; fail "the $k-step run"; }
    "$rt" train "$dir/r-train.csv" "${cuda[@]}" "${seg[@]}" --steps 60 --resume "$dir/part-$k.ckpt" \
        --checkpoint "$dir/fin-$k.ckpt" > "$dir/out.json" 2> "$dir/out.log" ||
        { cat "$dir/out.log"; fail "resume from step $k"; }
    grep "resumed from" "$dir/out.log"
    [ "$(summary "$dir/out.json")" = "$(summary "$dir/ref.json")" ] ||
        fail "resumed from step $k: $(summary "$dir/out.json")"
    echo "stopped at $k and resumed: matches the reference"
done

# SIGINT during a longer run, sent halfway through its training time
long=20000
t0=$(date +%s%N)
"$rt" train "$dir/r-train.csv" "${cuda[@]}" --steps $long > "$dir/long.json" 2> "$dir/long.log" ||
    fail "the $long-step reference"
total_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
"$rt" train "$dir/r-train.csv" "${cuda[@]}" --steps $long --checkpoint "$dir/sig.ckpt" \
    > "$dir/out.json" 2> "$dir/sig.log" &
pid=$!
t0=$(date +%s%N)
for _ in $(seq 3000); do grep -q "^backend" "$dir/sig.log" && break; sleep 0.01; done
open_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
half=$(( (total_ms - open_ms) / 2 ))
[ $half -gt 0 ] || half=100
sleep "$(printf '%d.%03d' $((half / 1000)) $((half % 1000)))"
kill -INT $pid || fail "the run ended before SIGINT (reference took ${total_ms} ms)"
set +e
wait $pid
rc=$?
set -e
grep "genet-rt:" "$dir/sig.log" || true
[ $rc -eq 130 ] || { cat "$dir/sig.log"; fail "SIGINT: exit $rc, expected 130"; }
[ -f "$dir/sig.ckpt" ] || fail "SIGINT: no checkpoint"
"$rt" train "$dir/r-train.csv" "${cuda[@]}" --steps $long --resume "$dir/sig.ckpt" \
    > "$dir/out.json" 2> "$dir/out.log" || { cat "$dir/out.log"; fail "resume after SIGINT"; }
grep "resumed from" "$dir/out.log"
[ "$(summary "$dir/out.json")" = "$(summary "$dir/long.json")" ] ||
    fail "after SIGINT: $(summary "$dir/out.json") vs $(summary "$dir/long.json")"
echo "SIGINT: exit 130, checkpoint written, the resumed run matches the reference"

# information: cuda -> serial
"$rt" train "$dir/r-train.csv" --backend serial "${opts[@]}" "${seg[@]}" --steps 60 --resume "$dir/part-30.ckpt" \
    > "$dir/x.json" 2> /dev/null && echo "cuda step-30 checkpoint resumed on serial: $(summary "$dir/x.json")"
echo "PASS"
