#!/usr/bin/env bash
# The growth trace of a cuda run against the cpu backend's (suite 'gpu';
# exit 77 where there is no usable GPU or no cuda backend):
#   gpu_trace.sh GENET_RT
# The kernel records every step's loss and, where a trace record may fall,
# the model's records and the growth round's events into mapped memory; the
# host replays them through trace.h. The backends compute the same run, so
# the two traces must be the same lines once the wall-clock times and the
# backend's name are left out: the start graph, every step record (loss,
# accuracy, new groups and edges, moved edges, order, gradient statistics,
# marks, events), every epoch record and the end.
set -euo pipefail
rt=$1
dir=$(mktemp -d "${TMPDIR:-/tmp}/gn-gpu-trace.XXXXXX")
trap 'rm -rf "$dir"' EXIT
awk 'BEGIN { srand(9); print "label,f";
  for (i = 0; i < 5000; i++) { c = i % 10; printf "%d", c;
    for (k = 0; k < 64; k++) printf ",%.3f", (k % 10 == c ? 0.45 : 0.3) + 0.5 * rand(); print "" } }' \
  > "$dir/all.csv"
head -4001 "$dir/all.csv" > "$dir/t-train.csv"
{ head -1 "$dir/all.csv"; tail -1000 "$dir/all.csv"; } > "$dir/t-test.csv"
opts=(--epochs 3 --batch 128 --grow alternate --grow-every 7 --grow-threshold 0.01 --max-groups 96
      --stats-interval 0 --quiet)

. "$(dirname "$0")/cuda_probe.sh"
gn_cuda_probe "$rt" "$dir/t-train.csv" "$dir/probe.log"

strip() { sed -E 's/,"seconds":[0-9.e+-]+//; s/"backend":"[a-z]+",//' "$1"; }
fail=0
# the third case prunes (on the cpu backend 5 groups go, in 4 rounds): the
# kernel's own pruning rounds, their logs in the trace's step records
for case in "10" "0" "10 --prune-threshold 20"; do
    set -- $case
    every=$1
    shift
    tag=$every${1:+-prune}
    for b in cpu cuda; do
        "$rt" train "$dir/t-train.csv" --backend "$b" "${opts[@]}" "$@" --trace "$dir/$b-$tag.jsonl" \
            --trace-every "$every" > "$dir/$b.log" 2>&1 || { cat "$dir/$b.log"; echo "FAIL: $b run"; exit 1; }
    done
    n=$(wc -l < "$dir/cpu-$tag.jsonl")
    grows=$(grep -c '"events"' "$dir/cpu-$tag.jsonl" || true)
    prunes=$(grep -c '"pruned_groups":\[' "$dir/cpu-$tag.jsonl" || true)
    if diff <(strip "$dir/cpu-$tag.jsonl") <(strip "$dir/cuda-$tag.jsonl") > "$dir/diff"; then
        echo "--trace-every $every $*: $n records ($grows with growth events, $prunes with pruning), cuda = cpu"
    else
        cut -c1-600 "$dir/diff" | head -n 12
        echo "FAIL: --trace-every $every $*: the cuda trace differs from the cpu trace"
        fail=1
    fi
    if [ -n "${1:-}" ] && [ "$prunes" -eq 0 ]; then
        echo "FAIL: the pruning case pruned nothing"
        fail=1
    fi
done
[ $fail -eq 0 ] && echo "ok: the kernel's trace is the cpu backend's"
exit $fail
