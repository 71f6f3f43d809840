#!/usr/bin/env bash
# The planted stuck task on the cuda backend (suite 'gpu'; exit 77 where
# there is no usable GPU or no cuda backend in the build):
#   gpu_fault.sh GENET_RT
# --cuda-inject-stuck 30 makes one task of step 30 spin without finishing
# (device/run.cuh, inject_stuck). The queue's no-progress detection must
# fire: the kernel writes its error record and exits, genet-rt reports "the
# kernel stopped: a queue wait made no progress (stuck task)" and exits
# non-zero within the time bound (60 s; the detection itself takes about a
# second of no progress). A control run without the injection succeeds.
set -euo pipefail
rt=$1
bound=${GN_STUCK_BOUND_S:-60}
dir=$(mktemp -d "${TMPDIR:-/tmp}/gn-gpu-fault.XXXXXX")
trap 'rm -rf "$dir"' EXIT
awk 'BEGIN { srand(5); print "label,f";
  for (i = 0; i < 6000; i++) { c = i % 10; printf "%d", c;
    for (k = 0; k < 64; k++) printf ",%.3f", (k % 10 == c ? 0.6 : 0.2) + 0.3 * rand(); print "" } }' \
  > "$dir/g-train.csv"
opts=(--backend cuda --steps 60 --grow-every 10 --limit-train 4096 --stats-interval 0 --quiet)

. "$(dirname "$0")/cuda_probe.sh"
gn_cuda_probe "$rt" "$dir/g-train.csv" "$dir/probe.log"

"$rt" train "$dir/g-train.csv" "${opts[@]}" > "$dir/control.log" 2>&1 ||
    { cat "$dir/control.log"; echo "FAIL: the control run failed"; exit 1; }
echo "control run: $(grep '^done' "$dir/control.log")"

t0=$(date +%s%N)
set +e
timeout $((bound * 2)) "$rt" train "$dir/g-train.csv" "${opts[@]}" --cuda-inject-stuck 30 \
    > "$dir/stuck.log" 2>&1
rc=$?
set -e
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "injected stuck task at step 30: exit $rc after ${ms} ms"
grep -E "genet-rt:" "$dir/stuck.log" || true
[ $rc -ne 124 ] || { echo "FAIL: genet-rt hung until timeout's $((bound * 2)) s"; exit 1; }
[ $rc -ne 0 ] || { echo "FAIL: the run succeeded: the stuck task was not detected"; exit 1; }
grep -q "the kernel stopped: a queue wait made no progress (stuck task)" "$dir/stuck.log" ||
    { cat "$dir/stuck.log"; echo "FAIL: no stuck-task report"; exit 1; }
[ $ms -le $((bound * 1000)) ] || { echo "FAIL: took ${ms} ms, over the ${bound} s bound"; exit 1; }
echo "PASS: detected and reported in ${ms} ms (bound ${bound} s)"
