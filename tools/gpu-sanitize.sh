#!/usr/bin/env bash
# compute-sanitizer on a short cuda training run with growth: memcheck (with
# leak check), racecheck (shared-memory hazards) and synccheck (barrier
# misuse), one after the other, each on
#   genet-rt train DATA --backend cuda --steps 60 --grow-every 10 --limit-train 4096
# DATA is $GN_DATASET, else Fashion-MNIST where installed, else a CSV this
# script writes. Logs go to gpu-sanitize/<tool>.log; the summary line of each
# tool is printed; the exit status is non-zero when any tool reports an error.
#
#   tools/gpu-sanitize.sh [BUILD_DIR]        (default build-rel-cuda, else build)
#
# The wall-clock timeouts of the kernel (barrier, batch wait) are stretched
# with GN_CUDA_TIMEOUT_SCALE (default 100 here; genet-rt reads it as its
# --cuda-timeout-scale option): the sanitizers slow the
# persistent kernel down by one to three orders of magnitude.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-}
if [ -z "$build" ]; then
    build=build-rel-cuda
    [ -x "$root/$build/host/genet-rt" ] || build=build
fi
rt=$root/$build/host/genet-rt
[ -x "$rt" ] || { echo "gpu-sanitize: no $rt (build with CUDA first)" >&2; exit 2; }
cs=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
[ -x "$cs" ] || { echo "gpu-sanitize: compute-sanitizer not found" >&2; exit 2; }
out=$root/gpu-sanitize
mkdir -p "$out"
data=${GN_DATASET:-/usr/share/datasets/fashion-mnist}
if [ ! -e "$data" ]; then
    data=$out/s-train.csv
    awk 'BEGIN { srand(5); print "label,f";
      for (i = 0; i < 4096; i++) { c = i % 10; printf "%d", c;
        for (k = 0; k < 64; k++) printf ",%.3f", (k % 10 == c ? 0.6 : 0.2) + 0.3 * rand(); print "" } }' \
      > "$data"
fi
export GN_CUDA_TIMEOUT_SCALE=${GN_CUDA_TIMEOUT_SCALE:-100}
run=("$rt" train "$data" --backend cuda --steps 60 --grow-every 10 --limit-train 4096
     --stats-interval 0 --quiet)
status=0
for tool in memcheck racecheck synccheck; do
    extra=()
    [ $tool = memcheck ] && extra=(--leak-check full)
    [ $tool = racecheck ] && extra=(--racecheck-report all)
    t0=$(date +%s)
    "$cs" --tool $tool "${extra[@]}" --error-exitcode 99 --print-limit 100 "${run[@]}" \
        > "$out/$tool.log" 2>&1
    rc=$?
    summary=$(grep -E "ERROR SUMMARY|RACECHECK SUMMARY|LEAK SUMMARY" "$out/$tool.log" | tr '\n' ' ')
    echo "$tool: exit $rc, $(( $(date +%s) - t0 )) s: ${summary:-no summary (see $out/$tool.log)}"
    grep -E "^done|training failed|the kernel stopped" "$out/$tool.log" | head -3
    [ $rc -eq 0 ] || status=1
done
exit $status
