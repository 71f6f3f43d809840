#!/usr/bin/env bash
# The live counters of a cuda run (suite 'gpu'; exit 77 where there is no
# usable GPU or no cuda backend):   gpu_counters.sh GENET_RT GENET_STAT
# The kernel stores each block's tasks and queue high water in mapped memory
# at every step's end; the host sums them when it samples. Records written
# while the kernel runs (not only the last one, after it ended) must show
# tasks run, a task rate and a queue high water above 0, as the cpu
# backend's do.
set -euo pipefail
rt=$1 stat=$2
dir=$(mktemp -d "${TMPDIR:-/tmp}/gn-gpu-counters.XXXXXX")
ring=gn-gpu-counters-$$
trap 'rm -rf "$dir"; rm -f /dev/shm/$ring' EXIT
awk 'BEGIN { srand(3); print "label,f";
  for (i = 0; i < 20000; i++) { c = i % 10; printf "%d", c;
    for (k = 0; k < 64; k++) printf ",%.3f", (k % 10 == c ? 0.6 : 0.2) + 0.3 * rand(); print "" } }' \
  > "$dir/c-train.csv"
set +e
"$rt" train "$dir/c-train.csv" --backend cuda --epochs 20 --batch 64 --stats-ring "$ring" \
    --stats-interval 20 --keep-stats --quiet > "$dir/run.log" 2>&1
rc=$?
set -e
if [ $rc -ne 0 ]; then
    if grep -qE "not available in this build|--backend cuda:" "$dir/run.log"; then
        echo "SKIP: $(grep "genet-rt:" "$dir/run.log")"
        exit 77
    fi
    cat "$dir/run.log"
    echo "FAIL: the cuda run failed"
    exit 1
fi
"$stat" -n 100000 --json "$ring" > "$dir/records.jsonl"
python3 - "$dir/records.jsonl" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
steps = max(r["step"] for r in recs)
# records of the running kernel: before the last step
live = [r for r in recs if 0 < r["step"] < steps]
print(f"{len(recs)} records, {len(live)} while the kernel ran, last step {steps}")
if len(live) < 3:
    sys.exit("FAIL: too few records while the kernel ran")
bad = [r for r in live if not (r["tasks"] > 0 and r["queue_high_water"] > 0)]
if bad:
    sys.exit(f"FAIL: {len(bad)} live records without tasks or a queue high water: {bad[0]}")
rates = [r.get("tasks_per_s") or 0 for r in live]
if max(rates) <= 0:
    sys.exit("FAIL: no task rate while the kernel ran")
mono = all(a["tasks"] <= b["tasks"] for a, b in zip(live, live[1:]))
if not mono:
    sys.exit("FAIL: the task count went down")
print(f"ok: tasks {live[0]['tasks']} .. {live[-1]['tasks']}, up to {max(rates):.3g} tasks/s, "
      f"queue high water {max(r['queue_high_water'] for r in live)}")
PY
