#!/usr/bin/env bash
# genet-rt builds side by side on one GPU, in one run: is a new one slower,
# and does it compute the same bits?
#
#   tools/bench/compare.sh OLD_GENET_RT NEW_GENET_RT [MORE_GENET_RT...] [DATASET_DIR]
#
# For each workload (the benchmark graphs of make_graphs.py, plus a graph of
# one hidden group for the fixed cost of a step), `genet-rt bench --backend
# cuda` runs REPS times per build, the builds interleaved (old, new, old,
# new, ...; with more builds, each in turn) so that clock and thermal drift
# hit all alike; the table gives each build's median ms per step, its ratio
# to the first build's, and whether the final losses of every build are
# bitwise equal. Two builds are named old and new; three or more b0 (the
# first, the reference of the ratios), b1, b2, ..., listed with their paths
# above the tables: one device call can weigh several variants against one
# base. With DATASET_DIR (Fashion-MNIST; the last argument, a directory),
# the default training run is timed whole, once per build per repetition,
# with its test accuracy. Before the table, where the runs report one, the
# in-kernel profile's phases (us per worker and step, medians) of each
# build, then its tasks a step and the workers' busy time by task kind
# (forward, backward, update: us a step summed over the workers). The
# table is printed last.
#
# Environment: REPS (default 3), STEPS / WARMUP per bench run (default
# 200 / 20), WORKLOADS (default "layered many deep sweep-64-32
# sweep-1024-64 one-group"; any graph of make_graphs.py's default set or
# its wide family, e.g. wide-128-2x16), PYTHON (default python3), PHASES (the
# profile's phases in its table, default "take finish task_edges task_loads
# task_math barrier"; a diagnostic build's own phases can be named here,
# e.g. the release's parts of a -DGN_DIAG_RELEASE build: "finish r_fence
# r_atom r_acq r_push r_done"; a build that lacks one shows "-").
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
usage="usage: compare.sh OLD_GENET_RT NEW_GENET_RT [MORE_GENET_RT...] [DATASET_DIR]"
DATA=
BINS=()
for a in "$@"; do
    if [ -d "$a" ]; then
        [ -z "$DATA" ] || { echo "compare.sh: two data set directories ($DATA, $a); $usage" >&2; exit 2; }
        DATA=$a
    elif [ -f "$a" ] && [ -x "$a" ]; then
        BINS+=("$a")
    else
        echo "compare.sh: $a is neither a genet-rt binary (an executable file) nor a data set directory" >&2
        exit 2
    fi
done
[ ${#BINS[@]} -ge 2 ] || { echo "compare.sh: two builds at least; $usage" >&2; exit 2; }
NAMES=()
if [ ${#BINS[@]} -eq 2 ]; then
    NAMES=(old new)
else
    for i in "${!BINS[@]}"; do NAMES+=("b$i"); done
fi
REPS=${REPS:-3}
STEPS=${STEPS:-200}
WARMUP=${WARMUP:-20}
WORKLOADS=${WORKLOADS:-layered many deep sweep-64-32 sweep-1024-64 one-group}
PYTHON=${PYTHON:-python3}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

"$PYTHON" "$ROOT/tools/bench/make_graphs.py" "$WORK" --only layered deep many sweep wide >/dev/null ||
    { echo "compare.sh: make_graphs.py failed" >&2; exit 1; }
cat >"$WORK/one-group.json" <<'EOF'
{"format": "genet-graph", "version": 1, "inputs": 784, "classes": 10, "group_size": 32,
 "groups": [{"id": 1, "inputs": [0]}], "output": {"inputs": [1]}}
EOF

for w in $WORKLOADS; do
    for r in $(seq 1 "$REPS"); do
        for i in "${!BINS[@]}"; do
            b=${NAMES[$i]}
            echo "== $w $b rep $r" >&2
            timeout 180 "${BINS[$i]}" bench "$WORK/$w.json" --backend cuda --steps "$STEPS" \
                --warmup "$WARMUP" --json >"$WORK/$w.$b.$r.json" 2>"$WORK/$w.$b.$r.err" ||
                { echo "   failed: $(tail -1 "$WORK/$w.$b.$r.err")" >&2; }
        done
    done
done
if [ -n "$DATA" ]; then
    for r in $(seq 1 "$REPS"); do
        for i in "${!BINS[@]}"; do
            b=${NAMES[$i]}
            echo "== fashion $b rep $r" >&2
            s=$EPOCHREALTIME
            timeout 300 "${BINS[$i]}" train "$DATA" --backend cuda --quiet --stats-interval 0 --json \
                >"$WORK/fashion.$b.$r.json" 2>"$WORK/fashion.$b.$r.err" ||
                echo "   failed: $(tail -1 "$WORK/fashion.$b.$r.err")" >&2
            echo "$s $EPOCHREALTIME" >"$WORK/fashion.$b.$r.wall"
        done
    done
fi

printf '%s\n' "${NAMES[@]}" >"$WORK/names"
# shellcheck disable=SC2086 # PHASES: one word a phase
printf '%s\n' ${PHASES:-take finish task_edges task_loads task_math barrier} >"$WORK/phases"
printf '%s\n' "${BINS[@]}" >"$WORK/bins"
# shellcheck disable=SC2086 # WORKLOADS: one argument a workload
"$PYTHON" - "$WORK" "$REPS" "$DATA" $WORKLOADS <<'EOF'
import json, statistics, sys, os
work, reps, data, names = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
builds = open(f"{work}/names").read().split()
paths = open(f"{work}/bins").read().splitlines()
base = builds[0]
def load(p):
    try:
        return json.load(open(p))
    except Exception:
        return None
def med(xs):
    return statistics.median(xs) if xs else float("nan")
def ratio(x, ref):
    return f"{x / ref:.3f}" if x == x and ref == ref and ref > 0 else "-"
def same(sets):
    # every build ran and all report the first build's values; else which
    # builds do not (or did not run)
    off = [b for b in builds if not sets[b] or sets[b] != sets[base]]
    if not off:
        return "yes"
    return "no" if len(builds) == 2 or base in off else "no (" + ", ".join(off) + ")"
rows = []
for n in names:
    ms = {b: [] for b in builds}
    loss = {b: set() for b in builds}
    for b in builds:
        for r in range(1, reps + 1):
            j = load(f"{work}/{n}.{b}.{r}.json")
            if j:
                ms[b].append(j["ms_per_step"])
                loss[b].add(repr(j["final_loss"]))
    m = {b: med(ms[b]) for b in builds}
    cells = [f"{m[base]:.4f}"]
    for b in builds[1:]:
        cells += [f"{m[b]:.4f}", ratio(m[b], m[base])]
    rows.append([n] + cells + [same(loss), "/".join(sorted(loss[builds[-1]]))])
if data:
    wall = {b: [] for b in builds}
    acc = {b: set() for b in builds}
    for r in range(1, reps + 1):
        for b in builds:
            j = load(f"{work}/fashion.{b}.{r}.json")
            try:
                t0, t1 = map(float, open(f"{work}/fashion.{b}.{r}.wall").read().split())
                wall[b].append(t1 - t0)
            except Exception:
                pass
            if j:
                acc[b].add(repr(j.get("test_accuracy")))
    m = {b: med(wall[b]) * 1000 for b in builds}
    cells = [f"{m[base]:.1f}"]
    for b in builds[1:]:
        cells += [f"{m[b]:.1f}", ratio(m[b], m[base])]
    rows.append(["fashion-mnist run (ms, whole)"] + cells +
                [same(acc), "/".join(sorted(acc[builds[-1]]))])
# where the time went: the in-kernel profile (worker_us_per_step, us per
# worker and step), each phase's median over the repetitions; block 0's
# own phases (the data wait and the books: its serial section, which the
# other blocks wait for in the barrier) as block 0's us a step
phases = tuple(open(f"{work}/phases").read().split())
lead = ("data", "bookkeeping")
prof = []
for n in names:
    for b in builds:
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
# the tasks a step and the workers' busy time by task kind (us a step,
# summed over the workers), medians: with few tasks (one-group), what each
# kind of the step's critical path costs inside the kernel
kinds = ("forward", "backward", "update")
busy = []
for n in names:
    for b in builds:
        tasks, got = [], {k: [] for k in kinds}
        for r in range(1, reps + 1):
            j = load(f"{work}/{n}.{b}.{r}.json")
            if not j:
                continue
            if "tasks_per_step" in j:
                tasks.append(j["tasks_per_step"])
            for k in kinds:
                if k in j.get("busy_ms_per_step", {}):
                    got[k].append(j["busy_ms_per_step"][k] * 1000.0)
        if tasks or any(got.values()):
            busy.append([n, b, f"{statistics.median(tasks):.1f}" if tasks else "-"] +
                        [f"{statistics.median(got[k]):.1f}" if got[k] else "-" for k in kinds])
print("builds:")
print()
for b, p in zip(builds, paths):
    print(f"- {b}: {p}")
if prof:
    print()
    print("us per worker and step (in-kernel profile, medians; data and bookkeeping: block 0's us a step):")
    print()
    print("| workload | build | " + " | ".join(phases + lead) + " |")
    print("| --- | --- |" + " ---: |" * len(phases + lead))
    for r in prof:
        print("| " + " | ".join(r) + " |")
if busy:
    print()
    print("tasks a step and the workers' busy time by kind (us a step, all workers; medians):")
    print()
    print("| workload | build | tasks | " + " | ".join(kinds) + " |")
    print("| --- | --- |" + " ---: |" * (1 + len(kinds)))
    for r in busy:
        print("| " + " | ".join(r) + " |")
print()
head = [f"{base} ms/step"]
for b in builds[1:]:
    head += [f"{b} ms/step", f"{b}/{base}"]
print("| workload | " + " | ".join(head) + " | same result | " + builds[-1] +
      " final loss (accuracy) |")
print("| --- |" + " ---: |" * len(head) + " --- | --- |")
for r in rows:
    print("| " + " | ".join(r) + " |")
EOF
