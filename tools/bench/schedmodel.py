#!/usr/bin/env python3
"""What a training step would take if its tasks cost something else: a model
of the persistent kernel's scheduling, fed by a measured task timeline.

    tools/bench/schedmodel.py GRAPH.json TIMELINE.csv [--workers N] [--take NS]
                              [--pieces N] [--trip NS] [--div NS]

GRAPH.json is the graph the step ran (tools/bench/make_graphs.py's files,
or any graph file whose groups are listed in the canonical order);
TIMELINE.csv is that step's timeline from a -DGN_DIAG_TIMELINE build
(tools/bench/timeline.py says how to make one). Needs no GPU.

The model. The step's task DAG is rebuilt from the graph by the task
graph's rules (runtime/sched/taskgraph.h: forward(s,t) -> forward(g,t);
the output's forward(t) -> backward(s,t); backward(g,t) -> backward(s,t);
backward(g,t) and backward(s,t) for each in-edge s -> g -> every part of
update(g); the output's forward(t) -> its update parts); the update parts
each group has are the timeline's. Every task costs what it cost in the
timeline: its op and its release (start to rel), plus a take of --take ns
(1000 by default: the pop and the take's barrier; a continuation pays it
too). N workers (by default the timeline's highest worker number plus one) run the DAG by list
scheduling: a worker that finishes a task releases its successors,
keeps the first that became ready as its continuation and queues the
rest; a free worker takes the task that has waited longest (the ready
queue is a FIFO of tickets, runtime/sched/queue.h). Nothing else is
modelled: no contention, no cache. Each task's maker in the timeline
must be one of its predecessors in the rebuilt DAG (checked: it is how a
wrong order of the groups would show).

The first row is the model of the step as measured, set beside the
measured pass: it is the check that the model holds. The rows after it
change one thing each (a kind's ops shorter, releases off the worker,
update parts only on workers with nothing else to do, the ready tasks
handed out by their longest path to the pass's end instead of first come
first served, the weights in two copies so that no update waits for the
backward tasks that read its weights, update parts split finer, the
weight gradients summed by batch tiles where the timeline has the ops'
phases, ...) and give the pass the model predicts, and its ratio to the
model's own first row.
"""
import argparse
import collections
import csv
import gzip
import heapq
import json
import sys

FWD, BWD, UPD = 0, 1, 2


def open_text(path):
    """A timeline, plain or gzip-compressed (a name ending in .gz)."""
    return gzip.open(path, "rt") if path.endswith(".gz") else open(path)


def load(graph_path, csv_path):
    g = json.load(open(graph_path))
    ids = [gr["id"] for gr in g["groups"]]
    pos = {0: 0}
    for i, gid in enumerate(ids):
        pos[gid] = i + 1
    out = len(ids) + 1
    preds = {pos[gr["id"]]: [pos[s] for s in gr["inputs"]] for gr in g["groups"]}
    preds[out] = [pos[s] for s in g["output"]["inputs"]]
    rows = {}
    with open_text(csv_path) as f:
        for r in csv.DictReader(f):
            t = {k: int(v) for k, v in r.items()}
            rows[(t["kind"], t["pos"], t["tile"])] = t
    if not rows:
        sys.exit(f"{csv_path}: no tasks")
    return preds, out, rows


def build(preds, out, rows, war=True):
    """The step's DAG; war False leaves out the edges backward(s,t) ->
    update(g) for each in-edge s -> g (update(g) rewrites W(s->g), which
    backward(s) reads: with the weights in two copies, the step's update
    writing the copy the next step reads, they would not be needed)."""
    tiles = 1 + max(k[2] for k in rows if k[0] == FWD)
    parts = collections.defaultdict(list)
    for k in rows:
        if k[0] == UPD:
            parts[k[1]].append(k)
    for p in parts.values():
        p.sort()
    succ = collections.defaultdict(list)
    for g in sorted(preds):
        srcs = [s for s in preds[g] if s != 0]
        for t in range(tiles):
            me = (FWD, out, t) if g == out else (BWD, g, t)
            for s in srcs:
                succ[(FWD, s, t)].append((FWD, g, t))
                succ[me].append((BWD, s, t))
            succ[me].extend(parts[g])
            for s in srcs if war else ():
                succ[(BWD, s, t)].extend(parts[g])
    missing = [k for k in set(x for v in succ.values() for x in v) | set(succ) if k not in rows]
    if missing:
        sys.exit(f"the rebuilt DAG has tasks the timeline lacks, e.g. {missing[:3]}: wrong graph?")
    return succ


def check_makers(rows, succ):
    by_id = {t["task"]: k for k, t in rows.items()}
    preds = collections.defaultdict(set)
    for a, bs in succ.items():
        for b in bs:
            preds[b].add(a)
    bad = 0
    for k, t in rows.items():
        if t["maker"] >= 0 and by_id.get(t["maker"]) not in preds[k]:
            bad += 1
    return bad


class _Prio:
    """A ready list that hands out the task with the longest path to the
    pass's end first (its key), in place of the queue's FIFO."""

    def __init__(self, key):
        self.key, self.h, self.n = key, [], 0

    def append(self, k):
        heapq.heappush(self.h, (-self.key[k], self.n, k))
        self.n += 1

    def popleft(self):
        return heapq.heappop(self.h)[2]

    def __bool__(self):
        return bool(self.h)


def bottom_levels(rows, succ, take, cost):
    """Each task's longest path to the pass's end (ns), itself included."""
    order, seen = [], set()
    for k0 in rows:
        if k0 in seen:
            continue
        stack = [(k0, iter(succ.get(k0, ())))]
        seen.add(k0)
        while stack:
            k, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                order.append(k)
                stack.pop()
            elif nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, iter(succ.get(nxt, ()))))
    bl = {}
    for k in order:  # successors first
        op, rel = cost(k)
        bl[k] = take + op + rel + max((bl[s] for s in succ.get(k, ())), default=0)
    return bl


def simulate(rows, succ, workers, take, cost, low_update=False, release_apart=False,
             critical_first=False):
    """The pass's length (ns) and the workers' busy share. cost(key) ->
    (op ns, release ns)."""
    indeg = collections.Counter()
    for bs in succ.values():
        for b in bs:
            indeg[b] += 1
    if critical_first:
        high = _Prio(bottom_levels(rows, succ, take, cost))
    else:
        high = collections.deque()
    low = collections.deque()

    def queue_of(k):
        return low if low_update and k[0] == UPD else high

    for k in rows:
        if indeg[k] == 0:
            queue_of(k).append(k)
    events = []  # (time, seq, what, worker, task)
    seq = 0
    idle = collections.deque(range(workers))
    busy = 0
    end = 0
    left = len(rows)

    def start(w, k, t):
        nonlocal seq, busy
        op, rel = cost(k)
        if release_apart:
            # the worker is free at the op's end; the release runs beside
            heapq.heappush(events, (t + take + op, seq, "free", w, None))
            seq += 1
            heapq.heappush(events, (t + take + op + rel, seq, "released", -1, k))
            busy += take + op
        else:
            heapq.heappush(events, (t + take + op + rel, seq, "released", w, k))
            busy += take + op + rel
        seq += 1

    def dispatch(t):
        while idle and (high or low):
            w = idle.popleft()
            start(w, (high or low).popleft(), t)

    dispatch(0)
    while events:
        t, _, what, w, k = heapq.heappop(events)
        if what == "free":
            idle.append(w)
            dispatch(t)
            continue
        left -= 1
        end = max(end, t)
        cont = None
        for s in succ.get(k, ()):
            indeg[s] -= 1
            if indeg[s] == 0:
                if w >= 0 and cont is None and not (low_update and s[0] == UPD):
                    cont = s
                else:
                    queue_of(s).append(s)
        if w >= 0:
            if cont is not None:
                start(w, cont, t)
            else:
                idle.append(w)
        dispatch(t)
    if left:
        sys.exit(f"the model left {left} tasks unrun: the DAG has a cycle?")
    return end, busy / (workers * end)


def measured_cost(rows):
    """Each task's cost as its row gives it: (op ns, release ns)."""
    return lambda k: (rows[k]["done"] - rows[k]["start"], rows[k]["rel"] - rows[k]["done"])


def no_stat_cost(rows, cost):
    """cost on a step that makes no growth statistic (plan.h,
    gn_plan_stat_read): an update part's op ends at its op's end (the
    timeline's upd_op mark, where the timeline has one), without the parts'
    counter and the last part's statistic."""
    def c(k):
        t = rows[k]
        if k[0] == UPD and t.get("upd_op", 0) > 0:
            return (t["upd_op"] - t["start"], cost(k)[1])
        return cost(k)
    return c


def split_updates(rows, succ, n, fixed):
    """The same DAG with every update part split into n parts, each costing
    the part's op times (fixed + (1 - fixed) / n) (a share `fixed` of the
    op, e.g. the batch's error staged, paid by every piece) plus the
    part's release: finer update parts, as a smaller least part
    (taskgraph.h's gn_task_part_rows) would give."""
    rows2, ren = {}, {}
    for k, t in rows.items():
        if k[0] != UPD:
            rows2[k] = t
            continue
        op = t["done"] - t["start"]
        d = int(op * (fixed + (1 - fixed) / n))
        subs = []
        for i in range(n):
            t2 = dict(t)
            t2["start"], t2["done"], t2["rel"] = 0, d, d + t["rel"] - t["done"]
            rows2[(k[0], k[1], k[2] * n + i)] = t2
            subs.append((k[0], k[1], k[2] * n + i))
        ren[k] = subs
    succ2 = collections.defaultdict(list)
    for a, bs in succ.items():
        for b in bs:
            succ2[a].extend(ren.get(b, [b]))
    return rows2, succ2


def has_phases(rows):
    """Whether the timeline has the ops' phases (ph_*; an update part's
    upd_op mark)."""
    return all("ph_stage" in t and (k[0] != UPD or t.get("upd_op", 0) > 0)
               for k, t in rows.items())


def queue_taken(rows):
    """The forward and backward tasks the read-ahead did not serve: the
    timeline's `ahead` 0 where it has that column; in older dumps, those
    it most likely did not, a root or one made ready by a task of another
    worker (the read-ahead reads a worker's own next task, its running
    task's first successor; worker.cuh). The set the take's edge records
    (-DGN_BLOCK_TAKE_REC) would shorten."""
    by_id = {t["task"]: t for t in rows.values()}
    out = set()
    for k, t in rows.items():
        if k[0] not in (FWD, BWD):
            continue
        if "ahead" in t:
            if not t["ahead"]:
                out.add(k)
            continue
        m = by_id.get(t["maker"])
        if m is None or m["worker"] != t["worker"]:
            out.add(k)
    return out


def batch_tiled(rows, succ, pieces, by_rows, take, write_ns=500, combine_ns=1000, count_ns=500):
    """The same DAG with each update part's weight gradients summed per
    batch tile (docs/PERF.md, "weight gradients by batch tiles"): the part
    becomes `pieces` tasks, each staging and multiplying 1/pieces of the
    rows (its phases' ph_stage and ph_math divided, the rest of its op
    paid whole) and writing its partial sums (write_ns), whose release is
    one counter decrement (count_ns); the last to finish combines the
    partials (combine_ns) and runs the part's apply, counter and statistic
    and its release as measured: a node after the pieces, with no take of
    its own (the last piece runs it; simulate charges every task `take`,
    so the node's cost is less that, at least 0). by_rows: piece j
    waits only for the forward or backward tasks of its own rows (the
    step's tiles in `pieces` equal runs), else for all of them. None
    where the timeline has no phases (has_phases) or `pieces` does not
    divide the step's tiles."""
    if not has_phases(rows):
        return None
    tiles = 1 + max(k[2] for k in rows if k[0] == FWD)
    if tiles % pieces:
        return None
    per = tiles // pieces
    rows2, first, last = {}, {}, {}
    for k, t in rows.items():
        if k[0] != UPD:
            rows2[k] = t
            continue
        op = t["upd_op"] - t["start"]
        sm = t["ph_stage"] + t["ph_math"]
        d = op - t["ph_apply"] - sm + sm // pieces + write_ns
        subs = []
        for j in range(pieces):
            kk = (UPD, k[1], k[2] * (pieces + 1) + j)
            rows2[kk] = {"start": 0, "done": d, "rel": d + count_ns}
            subs.append(kk)
        c = max(0, combine_ns + t["ph_apply"] + t["done"] - t["upd_op"] - take)
        kc = (UPD, k[1], k[2] * (pieces + 1) + pieces)
        rows2[kc] = {"start": 0, "done": c, "rel": c + t["rel"] - t["done"]}
        first[k], last[k] = subs, kc
    succ2 = collections.defaultdict(list)
    for a, bs in succ.items():
        src = last.get(a, a)
        for b in bs:
            if b not in first:
                succ2[src].append(b)
            elif by_rows and a[0] in (FWD, BWD):
                succ2[src].append(first[b][a[2] // per])
            else:
                succ2[src].extend(first[b])
    for k, subs in first.items():
        for kk in subs:
            succ2[kk].append(last[k])
    return rows2, succ2


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("graph")
    ap.add_argument("timeline")
    ap.add_argument("--workers", type=int, default=0, help="workers (default: the highest worker in the timeline, plus one)")
    ap.add_argument("--take", type=int, default=1000, help="ns a take costs (default 1000)")
    ap.add_argument("--pieces", type=int, default=4,
                    help="batch tiles of the gradients' case (default 4: 64 rows of a batch of 256)")
    ap.add_argument("--trip", type=int, default=600,
                    help="ns a queue-taken forward or backward saves with its edge records copied "
                         "at the take (default 600: one L2 round trip after a fence)")
    ap.add_argument("--div", type=int, default=200,
                    help="ns every op saves with cheaper index divisions (default 200)")
    a = ap.parse_args(argv)
    preds, out, rows = load(a.graph, a.timeline)
    succ = build(preds, out, rows)
    bad = check_makers(rows, succ)
    workers = a.workers or 1 + max(t["worker"] for t in rows.values())
    t0 = min(t["take"] for t in rows.values())
    measured = max(t["rel"] for t in rows.values()) - t0

    cost = measured_cost(rows)

    def op(k):
        return cost(k)[0]

    def rel(k):
        return cost(k)[1]

    def scaled(kinds, f):
        return lambda k: (op(k) * (f if k[0] in kinds else 1.0), rel(k))

    no_stat = no_stat_cost(rows, cost)

    cases = [
        ("as measured", cost, {}),
        ("update parts only where nothing else waits", cost, {"low_update": True}),
        ("ready tasks by their longest path to the end, not FIFO", cost, {"critical_first": True}),
        ("releases beside the next task", cost, {"release_apart": True}),
        ("releases free", lambda k: (op(k), 0), {}),
        ("update ops x0.5", scaled({UPD}, 0.5), {}),
        ("update ops end with the op: no parts' counter, no statistic", no_stat, {}),
        ("update ops free", scaled({UPD}, 0.0), {}),
        ("forward and backward ops x0.5", scaled({FWD, BWD}, 0.5), {}),
        ("every op 4 us shorter (min 0.5)", lambda k: (max(op(k) - 4000, 500), rel(k)), {}),
        ("every op x0.5", scaled({FWD, BWD, UPD}, 0.5), {}),
        ("every op x0.33", scaled({FWD, BWD, UPD}, 0.33), {}),
        ("every op x0.33, releases free", lambda k: (op(k) * 0.33, 0), {}),
    ]
    kinds = collections.Counter(k[0] for k in rows)
    print(f"{a.timeline}: {len(rows)} tasks ({kinds[FWD]} forward, {kinds[BWD]} backward, "
          f"{kinds[UPD]} update parts), {workers} workers, take {a.take} ns")
    if bad:
        print(f"WARNING: {bad} tasks' makers are not their predecessors in the rebuilt DAG "
              "(is the graph the one that ran, its groups in the canonical order?)")
    base = None
    table = []
    for name, case_cost, kw in cases:
        span, share = simulate(rows, succ, workers, a.take, case_cost, **kw)
        base = base or span
        table.append((name, span / 1e3, span / base, share))
    # the weights in two copies: no backward(s) -> update(g) edges; the
    # backward tasks' releases as measured (they would have fewer
    # successors: 9 -> 5 on layered, one batch of decrements instead of two)
    # and, the second row, 0.3 us shorter (the second batch's round trip,
    # docs/PERF.md's release parts)
    succ_nw = build(preds, out, rows, war=False)
    for name, case_cost in (("weights in two copies: no backward -> update edges", cost),
                            ("the same, backward releases 0.3 us shorter",
                             lambda k: (op(k), max(0, rel(k) - (300 if k[0] == BWD else 0))))):
        span, share = simulate(rows, succ_nw, workers, a.take, case_cost)
        table.append((name, span / 1e3, span / base, share))
    for n, fixed in ((2, 0.2), (2, 0.35), (4, 0.2)):
        rows2, succ2 = split_updates(rows, succ, n, fixed)
        span, share = simulate(rows2, succ2, workers, a.take, measured_cost(rows2))
        table.append((f"update parts split in {n}, a share {fixed} of the op paid by each",
                      span / 1e3, span / base, share))
    notes = []
    if has_phases(rows):
        # the ops' preambles (ph_edges: the task decoded, its position's record,
        # the set-up, the bias, the edge table) free, and a take of a third
        # of --take: what a task's fixed costs are worth
        no_preamble = lambda k: (op(k) - rows[k]["ph_edges"], rel(k))
        for name, case_cost, take in (("ops' preambles free (every op less its ph_edges: record, set-up, edge table)", no_preamble, a.take),
                                      ("takes a third as long", cost, a.take // 3),
                                      ("both", no_preamble, a.take // 3)):
            span, share = simulate(rows, succ, workers, take, case_cost)
            table.append((name, span / 1e3, span / base, share))
        # two parts of it, as variants build them (docs/bench/2026-12-08-take):
        # the edges' records copied at the take, one round trip less for
        # the forward and backward tasks the read-ahead did not serve; the
        # index divisions cheaper, a few hundred ns off every op's serial
        # integer code (at most the preamble)
        qt = queue_taken(rows)
        recs = lambda k: (op(k) - (min(a.trip, rows[k]["ph_edges"]) if k in qt else 0), rel(k))
        divs = lambda k: (op(k) - min(a.div, rows[k]["ph_edges"]), rel(k))
        n_fb = sum(1 for k in rows if k[0] in (FWD, BWD))
        for name, case_cost in ((f"edge records at the take: {len(qt)} of {n_fb} forward and backward "
                                 f"ops (those not read ahead) {a.trip} ns shorter", recs),
                                (f"index divisions cheaper: every op {a.div} ns shorter", divs)):
            span, share = simulate(rows, succ, workers, a.take, case_cost)
            table.append((name, span / 1e3, span / base, share))
        for by_rows in (False, True):
            bt = batch_tiled(rows, succ, a.pieces, by_rows, a.take)
            if bt is None:
                notes.append(f"no batch-tile rows: --pieces {a.pieces} does not divide the step's tiles")
                break
            span, share = simulate(bt[0], bt[1], workers, a.take, measured_cost(bt[0]))
            table.append((f"weight gradients by {a.pieces} batch tiles, then a combine"
                          + (", each tile after its own rows" if by_rows else ""),
                          span / 1e3, span / base, share))
    print()
    print(f"| case | model us | / model as measured | workers busy |")
    print(f"| --- | ---: | ---: | ---: |")
    print(f"| measured pass | {measured / 1e3:.1f} | {measured / base:.3f} | |")
    for name, us, r, share in table:
        print(f"| {name} | {us:.1f} | {r:.3f} | {100 * share:.0f} % |")
    for n in notes:
        print(f"\n({n})")


if __name__ == "__main__":
    main(sys.argv[1:])
