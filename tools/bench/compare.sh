#!/usr/bin/env bash
# Two genet-rt builds side by side on one GPU, in one run: is the new one
# slower, and does it compute the same bits?
#
#   tools/bench/compare.sh OLD_GENET_RT NEW_GENET_RT [DATASET_DIR]
#
# For each workload (the benchmark graphs of make_graphs.py, plus a graph of
# one hidden group for the fixed cost of a step), `genet-rt bench --backend
# cuda` runs REPS times per build, the builds interleaved (old, new, old,
# new, ...) so that clock and thermal drift hit both alike; the table gives
# each build's median ms per step, new / old, and whether the final losses
# are bitwise equal. With DATASET_DIR (Fashion-MNIST), the default training
# run is timed whole, once per build per repetition, with its test accuracy.
# Before it, where the runs report one, the in-kernel profile's phases (us
# per worker and step, medians) of each build. The table is printed last.
#
# Environment: REPS (default 3), STEPS / WARMUP per bench run (default
# 200 / 20), WORKLOADS (default "layered many deep sweep-64-32
# sweep-1024-64 one-group"), PYTHON (default python3).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OLD=${1:?usage: compare.sh OLD_GENET_RT NEW_GENET_RT [DATASET_DIR]}
NEW=${2:?usage: compare.sh OLD_GENET_RT NEW_GENET_RT [DATASET_DIR]}
DATA=${3:-}
REPS=${REPS:-3}
STEPS=${STEPS:-200}
WARMUP=${WARMUP:-20}
WORKLOADS=${WORKLOADS:-layered many deep sweep-64-32 sweep-1024-64 one-group}
PYTHON=${PYTHON:-python3}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

"$PYTHON" "$ROOT/tools/bench/make_graphs.py" "$WORK" --only layered deep many sweep >/dev/null ||
    { echo "compare.sh: make_graphs.py failed" >&2; exit 1; }
cat >"$WORK/one-group.json" <<'EOF'
{"format": "genet-graph", "version": 1, "inputs": 784, "classes": 10, "group_size": 32,
 "groups": [{"id": 1, "inputs": [0]}], "output": {"inputs": [1]}}
EOF

field() { # field NAME FILE: a number from a JSON summary
    "$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[2]))[sys.argv[1]])' "$1" "$2" 2>/dev/null ||
        echo nan
}

for w in $WORKLOADS; do
    for r in $(seq 1 "$REPS"); do
        for b in old new; do
            bin=$OLD; [ $b = new ] && bin=$NEW
            echo "== $w $b rep $r" >&2
            timeout 180 "$bin" bench "$WORK/$w.json" --backend cuda --steps "$STEPS" \
                --warmup "$WARMUP" --json >"$WORK/$w.$b.$r.json" 2>"$WORK/$w.$b.$r.err" ||
                { echo "   failed: $(tail -1 "$WORK/$w.$b.$r.err")" >&2; }
        done
    done
done
if [ -n "$DATA" ]; then
    for r in $(seq 1 "$REPS"); do
        for b in old new; do
            bin=$OLD; [ $b = new ] && bin=$NEW
            echo "== fashion $b rep $r" >&2
            s=$EPOCHREALTIME
            timeout 300 "$bin" train "$DATA" --backend cuda --quiet --stats-interval 0 --json \
                >"$WORK/fashion.$b.$r.json" 2>"$WORK/fashion.$b.$r.err" ||
                echo "   failed: $(tail -1 "$WORK/fashion.$b.$r.err")" >&2
            echo "$s $EPOCHREALTIME" >"$WORK/fashion.$b.$r.wall"
        done
    done
fi

"$PYTHON" - "$WORK" "$REPS" "$DATA" $WORKLOADS <<'EOF'
import json, statistics, sys, os
work, reps, data, names = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
def load(p):
    try:
        return json.load(open(p))
    except Exception:
        return None
rows = []
for n in names:
    ms = {"old": [], "new": []}
    loss = {"old": set(), "new": set()}
    for b in ("old", "new"):
        for r in range(1, reps + 1):
            j = load(f"{work}/{n}.{b}.{r}.json")
            if j:
                ms[b].append(j["ms_per_step"])
                loss[b].add(repr(j["final_loss"]))
    mo = statistics.median(ms["old"]) if ms["old"] else float("nan")
    mn = statistics.median(ms["new"]) if ms["new"] else float("nan")
    same = "yes" if loss["old"] and loss["old"] == loss["new"] else "no"
    rows.append((n, f"{mo:.4f}", f"{mn:.4f}", f"{mn / mo:.3f}" if mo == mo and mo > 0 else "-",
                 same, "/".join(sorted(loss["new"]))))
if data:
    wo, wn, ao, an = [], [], set(), set()
    for r in range(1, reps + 1):
        for b, wl, al in (("old", wo, ao), ("new", wn, an)):
            j = load(f"{work}/fashion.{b}.{r}.json")
            try:
                t0, t1 = map(float, open(f"{work}/fashion.{b}.{r}.wall").read().split())
                wl.append(t1 - t0)
            except Exception:
                pass
            if j:
                al.add(repr(j.get("test_accuracy")))
    mo = statistics.median(wo) * 1000 if wo else float("nan")
    mn = statistics.median(wn) * 1000 if wn else float("nan")
    rows.append(("fashion-mnist run (ms, whole)", f"{mo:.1f}", f"{mn:.1f}",
                 f"{mn / mo:.3f}" if mo == mo and mo > 0 else "-",
                 "yes" if ao and ao == an else "no", "/".join(sorted(an))))
# where the time went: the in-kernel profile (worker_us_per_step, us per
# worker and step), each phase's median over the repetitions; block 0's
# own phases (the data wait and the books: its serial section, which the
# other blocks wait for in the barrier) as block 0's us a step
phases = ("take", "finish", "task_edges", "task_loads", "task_math", "barrier")
lead = ("data", "bookkeeping")
prof = []
for n in names:
    for b in ("old", "new"):
        got = {ph: [] for ph in phases + lead}
        for r in range(1, reps + 1):
            j = load(f"{work}/{n}.{b}.{r}.json")
            w = j.get("worker_us_per_step") if j else None
            if w:
                for ph in phases:
                    if ph in w:
                        got[ph].append(w[ph])
                for ph in lead:
                    if ph in w and "workers" in w:
                        got[ph].append(w[ph] * w["workers"])
        if any(got.values()):
            prof.append([n, b] + [f"{statistics.median(got[ph]):.1f}" if got[ph] else "-"
                                  for ph in phases + lead])
if prof:
    print()
    print("us per worker and step (in-kernel profile, medians; data and bookkeeping: block 0's us a step):")
    print()
    print("| workload | build | " + " | ".join(phases + lead) + " |")
    print("| --- | --- |" + " ---: |" * len(phases + lead))
    for r in prof:
        print("| " + " | ".join(r) + " |")
print()
print(f"| workload | old ms/step | new ms/step | new/old | same result | new final loss (accuracy) |")
print("| --- | ---: | ---: | ---: | --- | --- |")
for r in rows:
    print("| " + " | ".join(r) + " |")
EOF
