#!/usr/bin/env python3
"""A training step's critical path, from the persistent kernel's task timeline.

    tools/bench/timeline.py TIMELINE.csv [MORE.csv ...] [--path N]

The timeline comes from a diagnostic build (-DGN_DIAG_TIMELINE for both
compilers; device/state.cuh, gn_dev_tl) run with GN_DIAG_TIMELINE_OUT=FILE:
for each task of the run's last training step, %globaltimer ns (~32 ns
ticks on Hopper) of

    ready  the decrement that made it ready (its maker's release; 0: a root)
    take   its worker began the take that returned it
    start  the block has it, past the take's barrier
    done   its op is over, past the op's closing barrier
    rel    its release is over

and `maker`, the task whose release made it ready (the last of its
predecessors to finish, or the one whose continuation it is); `pre`,
when warp 1's read-ahead ended; for an update part, `upd_op` (its op
over) and `upd_stat` (the group's last part: its counter passed, the
growth statistic next; 0 otherwise), and inside the statistic
`stat_sum1`, `stat_tree1`, `stat_sum2` (pass 1's lane sums over, its
tree over, pass 2's lane sums over); and `ph_edges`, `ph_stage`,
`ph_math`, `ph_apply`, the ns of each task's op spent in the ops' marked
phases (`GN_BLOCK_MARK`: the edge tables, the staging, the arithmetic,
the optimizer's apply), which the path and the per-kind means then split
the op into, and `ap_search`, `ap_load`, `ap_rule`, `ap_store`, the
update's apply split by its own marks (`GN_APPLY_MARK`: its entries'
offsets found, their loads arrived, the rule, the stores issued); and
`ahead`, 1 where the task's records came read ahead (worker.cuh's
read-ahead: its position's record, successors and edge table ready as
it started); a dump without them is read as before.

The step's critical path is the chain of makers back from the task whose op
ends last: each hop is its maker's release up to the decrement (`release`),
the hand-off to the worker that runs it (`hand-off`: a continuation on the
same worker, or a push and another worker's pop), and its op (`op`, by
kind). Their sum is the pass from its first take to that op's end; nothing
is left out. Per-kind means over all the step's tasks come after it, and a
table last, one row per file.
"""
import argparse
import csv
import gzip
import os
import sys

KINDS = ("forward", "backward", "update")


def open_text(path):
    """A timeline, plain or gzip-compressed (a name ending in .gz)."""
    return gzip.open(path, "rt") if path.endswith(".gz") else open(path)


def load(path):
    tasks = {}
    with open_text(path) as f:
        for row in csv.DictReader(f):
            t = {k: int(v) for k, v in row.items()}
            tasks[t["task"]] = t
    if not tasks:
        sys.exit(f"{path}: no tasks (was the build -DGN_DIAG_TIMELINE, GN_DIAG_TIMELINE_OUT set?)")
    return tasks


# a -DGN_DIAG_TIMELINE dump's split of the update's optimizer apply (ns
# summed over the task's apply runs; absent from older dumps)
AP = ["ap_search", "ap_load", "ap_rule", "ap_store"]


def phases(t):
    """A task's op split by its marks (builds whose dump has ph_*), us:
    edges, staging, arithmetic, the optimizer's apply, and the rest of the
    op (an update's op ends at upd_op, before its part's counter)."""
    ph = [t["ph_edges"], t["ph_stage"], t["ph_math"], t["ph_apply"]]
    end = t["upd_op"] if t["kind"] == 2 and t.get("upd_op") else t["done"]
    return [v / 1000.0 for v in ph] + [(end - t["start"] - sum(ph)) / 1000.0]


def analyse(path, show_path):
    tasks = load(path)
    t0 = min(t["take"] for t in tasks.values())
    end = max(tasks.values(), key=lambda t: t["done"])
    span = max(t["rel"] for t in tasks.values()) - t0
    workers = len({t["worker"] for t in tasks.values()})

    # the chain of makers back from the last op
    hops = []
    cur = end
    while True:
        m = cur["maker"]
        pred = tasks.get(m) if m >= 0 and cur["ready"] else None
        if pred is None:
            hops.append((cur, None, cur["start"] - t0, 0))
            break
        hops.append((cur, pred, cur["start"] - cur["ready"], cur["ready"] - pred["done"]))
        cur = pred
    hops.reverse()

    op = [0] * 3
    nk = [0] * 3
    hand_cont = hand_queue = 0
    n_cont = n_queue = 0
    release = 0
    # a continuation's hand-off: the rest of its maker's release, warp 1's
    # read-ahead past the release's end, the loop's take and barrier; a
    # pushed task's: waiting for a worker to take (none was free), the pop
    c_rest = c_pre = c_loop = q_wait = q_pop = 0
    has_pre = "pre" in end
    phased = "ph_edges" in end  # a dump with the ops' phases
    for t, pred, hand, rel in hops:
        op[t["kind"]] += t["done"] - t["start"]
        nk[t["kind"]] += 1
        release += rel
        if pred is not None and pred["worker"] == t["worker"] and t["take"] >= pred["done"]:
            hand_cont += hand
            n_cont += 1
            c_rest += pred["rel"] - t["ready"]
            both = max(pred["rel"], pred["pre"]) if has_pre else pred["rel"]
            c_pre += both - pred["rel"]
            c_loop += t["start"] - both
        else:
            hand_queue += hand
            n_queue += 1
            if pred is not None:
                q_wait += max(0, t["take"] - t["ready"])
                q_pop += t["start"] - max(t["take"], t["ready"])
    path_total = end["done"] - t0
    assert sum(op) + hand_cont + hand_queue + release == path_total

    name = os.path.basename(path)
    us = lambda ns: ns / 1000.0
    print(f"== {name}: {len(tasks)} tasks, {workers} workers, step {end['step']}")
    print(f"pass {us(span):.1f} us (first take to last release); critical path "
          f"{us(path_total):.1f} us to the last op's end, {len(hops)} tasks")
    for k in range(3):
        if nk[k]:
            print(f"  op {KINDS[k]:8s} {us(op[k]):9.1f} us  {nk[k]:5d} tasks  "
                  f"{us(op[k]) / nk[k]:6.2f} us each")
    print(f"  release to the decrement {us(release):9.1f} us  {len(hops) - 1:5d} hops  "
          f"{us(release) / max(1, len(hops) - 1):6.2f} us each")
    print(f"  hand-off, continuation   {us(hand_cont):9.1f} us  {n_cont:5d}        "
          f"{us(hand_cont) / max(1, n_cont):6.2f} us each")
    print(f"  hand-off, through queue  {us(hand_queue):9.1f} us  {n_queue:5d}        "
          f"{us(hand_queue) / max(1, n_queue):6.2f} us each (the first: from the pass's start)")
    if n_cont:
        print(f"    continuation: the maker's release after the decrement {us(c_rest):.1f} us, "
              f"warp 1's read-ahead past it {us(c_pre):.1f}, the take and its barrier "
              f"{us(c_loop):.1f}")
    if n_queue > 1:
        print(f"    queue: no worker free yet {us(q_wait):.1f} us, the pop from a free "
              f"worker's take {us(q_pop):.1f}")
    if show_path:
        print("  the path's last hops (us from the pass's start): task kind pos tile worker "
              "ready start done")
        if phased:
            print("    (then the op's phases, us: edges, staging, arithmetic, optimizer, the "
                  "op's rest)")
        for t, pred, hand, rel in hops[-show_path:]:
            print(f"    {t['task']:6d} {KINDS[t['kind']][:3]} {t['pos']:5d} {t['tile']:3d} "
                  f"{t['worker']:4d} {us(t['ready'] - t0) if t['ready'] else 0:8.1f} "
                  f"{us(t['start'] - t0):8.1f} {us(t['done'] - t0):8.1f}"
                  + ("   " + " ".join(f"{v:5.2f}" for v in phases(t)) if phased else ""))

    # every task of the step, by kind
    print("  all tasks, mean us: kind, count, op, hand-off (ready to start), "
          "release (done to rel), take (take to start)")
    for k in range(3):
        ts = [t for t in tasks.values() if t["kind"] == k]
        if not ts:
            continue
        n = len(ts)
        ready = [t for t in ts if t["ready"]]
        print(f"    {KINDS[k]:8s} {n:6d} {us(sum(t['done'] - t['start'] for t in ts)) / n:7.2f} "
              f"{us(sum(t['start'] - t['ready'] for t in ready)) / max(1, len(ready)):7.2f} "
              f"{us(sum(t['rel'] - t['done'] for t in ts)) / n:7.2f} "
              f"{us(sum(t['start'] - t['take'] for t in ts)) / n:7.2f}")
    if phased:
        print("  the op's phases, mean us: kind, edges, staging, arithmetic, optimizer, the "
              "op's rest (an update's op ends before its part's counter)")
        for k in range(3):
            ts = [t for t in tasks.values() if t["kind"] == k]
            if ts:
                ps = [phases(t) for t in ts]
                print(f"    {KINDS[k]:8s} " + " ".join(
                    f"{sum(p[i] for p in ps) / len(ps):6.2f}" for i in range(5)))
    if "ahead" in end:
        # the read-ahead's share of the forward and backward tasks, and
        # (with the phases) the op's edges phase with and without it: a
        # task read ahead finds its position's record and edge table ready
        # (worker.cuh); one that is not waits for their round trips, which
        # -DGN_BLOCK_TAKE_REC shortens
        def edges(xs):
            return f"{sum(t['ph_edges'] for t in xs) / len(xs) / 1000.0:.2f}" if xs else "-"
        parts = []
        for k in (0, 1):
            ts = [t for t in tasks.values() if t["kind"] == k]
            if not ts:
                continue
            ah = [t for t in ts if t["ahead"]]
            nh = [t for t in ts if not t["ahead"]]
            parts.append(f"{KINDS[k]} {len(ah)} of {len(ts)}" +
                         (f" (edges phase, mean us: {edges(ah)} read ahead, {edges(nh)} not)"
                          if phased else ""))
        print("  read ahead: " + ", ".join(parts))
    if "ap_search" in end:
        ups = [t for t in tasks.values() if t["kind"] == 2]
        if ups:
            m = [sum(t[c] for t in ups) / len(ups) / 1000.0 for c in AP]
            print("  the update's optimizer apply, mean us: its entries' offsets found "
                  f"{m[0]:.2f}, their loads arrived {m[1]:.2f}, the rule {m[2]:.2f}, the "
                  f"stores issued {m[3]:.2f}")
    if "upd_stat" in end:
        # an update part: its op, then (the group's last part) the part's
        # counter and fences, then the growth statistic over the group
        ups = [t for t in tasks.values() if t["kind"] == 2]
        last = [t for t in ups if t["upd_stat"]]
        rest = [t for t in ups if not t["upd_stat"]]
        mean = lambda xs: us(sum(xs)) / max(1, len(xs))
        print(f"  update parts: {len(rest)} not last, op {mean([t['upd_op'] - t['start'] for t in rest]):.2f} us, "
              f"then {mean([t['done'] - t['upd_op'] for t in rest]):.2f}; {len(last)} last, op "
              f"{mean([t['upd_op'] - t['start'] for t in last]):.2f}, counter and fences "
              f"{mean([t['upd_stat'] - t['upd_op'] for t in last]):.2f}, statistic "
              f"{mean([t['done'] - t['upd_stat'] for t in last]):.2f}")
        if "stat_sum1" in end and last:
            print(f"    the statistic: pass 1's lane sums "
                  f"{mean([t['stat_sum1'] - t['upd_stat'] for t in last]):.2f}, its tree "
                  f"{mean([t['stat_tree1'] - t['stat_sum1'] for t in last]):.2f}, pass 2's lane sums "
                  f"{mean([t['stat_sum2'] - t['stat_tree1'] for t in last]):.2f}, its tree and the rest "
                  f"{mean([t['done'] - t['stat_sum2'] for t in last]):.2f}")
    busy = sum(t["rel"] - t["start"] for t in tasks.values())
    print(f"  workers busy {100.0 * busy / (workers * span):.1f} % of the pass "
          f"(start to rel over workers x pass)")
    return {
        "file": name, "tasks": len(tasks), "pass": us(span), "path": us(path_total),
        "hops": len(hops), "op": us(sum(op)), "release": us(release),
        "hand_cont": us(hand_cont), "hand_queue": us(hand_queue),
        "busy": 100.0 * busy / (workers * span),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--path", type=int, default=0, metavar="N",
                    help="list the critical path's last N tasks")
    a = ap.parse_args()
    rows = [analyse(f, a.path) for f in a.files]
    print()
    print("| timeline | tasks | pass us | critical path us | tasks on it | ops | releases "
          "| hand-offs, continuation | hand-offs, queue | workers busy |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['file']} | {r['tasks']} | {r['pass']:.1f} | {r['path']:.1f} | {r['hops']} "
              f"| {r['op']:.1f} | {r['release']:.1f} | {r['hand_cont']:.1f} "
              f"| {r['hand_queue']:.1f} | {r['busy']:.1f} % |")


if __name__ == "__main__":
    main()
