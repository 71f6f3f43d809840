#!/usr/bin/env python3
"""tools/bench/schedmodel.py on a made-up timeline whose answers are known
by hand (no GPU): the DAG it rebuilds, the pass it simulates at one and at
many workers, the longest paths that order the ready list in its
critical-first case, the DAG without the backward -> update edges, and
the update parts' cost without the statistic, and the update parts'
weight gradients summed by batch tiles.

    schedmodel_test.py SCHEDMODEL_PY
"""
import gzip
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

FWD, BWD, UPD = 0, 1, 2


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def main(path):
    spec = importlib.util.spec_from_file_location("schedmodel", path)
    sm = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sm)
    # input -> 1 -> 2 -> output, two tiles: positions 1, 2, output 3
    graph = {"format": "genet-graph", "version": 1, "inputs": 4, "classes": 2, "group_size": 4,
             "groups": [{"id": 1, "inputs": [0]}, {"id": 2, "inputs": [1]}],
             "output": {"inputs": [2]}}
    keys = [(FWD, p, t) for p in (1, 2, 3) for t in (0, 1)] + \
           [(BWD, p, t) for p in (1, 2) for t in (0, 1)] + [(UPD, p, 0) for p in (1, 2, 3)]
    # every op 1000 ns, every release 200 ns (rel - done), one worker each
    cols = ["task", "kind", "pos", "tile", "worker", "step", "ready", "maker", "take", "start",
            "done", "rel"]
    with tempfile.TemporaryDirectory() as d:
        gp, tp = os.path.join(d, "g.json"), os.path.join(d, "t.csv")
        json.dump(graph, open(gp, "w"))
        with open(tp, "w") as f:
            f.write(",".join(cols) + "\n")
            for i, (k, p, t) in enumerate(keys):
                s = 10000 * i
                f.write(",".join(map(str, [i, k, p, t, i % 4, 7, 0, -1, s, s, s + 1000,
                                           s + 1200])) + "\n")
        preds, out, rows = sm.load(gp, tp)
        if out != 3 or preds != {1: [0], 2: [1], 3: [2]}:
            fail(f"graph read as {preds}, output {out}")
        succ = sm.build(preds, out, rows)
        # backward(s,t) reads W(s->g): update(g) waits for it (the edges the
        # two-copy case drops); backward(2,t) -> backward(1,t), update(2)
        want = {(BWD, 2, 0): [(BWD, 1, 0), (UPD, 2, 0), (UPD, 3, 0)],
                (BWD, 1, 0): [(UPD, 1, 0), (UPD, 2, 0)],
                (FWD, 3, 1): [(BWD, 2, 1), (UPD, 3, 0)]}
        for k, v in want.items():
            if sorted(succ[k]) != sorted(v):
                fail(f"successors of {k}: {succ[k]}, want {v}")
        nowar = sm.build(preds, out, rows, war=False)
        if sorted(nowar[(BWD, 1, 0)]) != [(UPD, 1, 0)] or \
                sorted(nowar[(BWD, 2, 0)]) != [(BWD, 1, 0), (UPD, 2, 0)]:
            fail(f"without the backward -> update edges: {dict(nowar)}")
        cost = sm.measured_cost(rows)
        # one worker, take 100: every task in turn, 13 x (100 + 1000 + 200)
        span, share = sm.simulate(rows, succ, 1, 100, cost)
        if span != 13 * 1300 or abs(share - 1.0) > 1e-12:
            fail(f"one worker: {span} ns, busy {share}")
        for crit in (False, True):
            span, _ = sm.simulate(rows, succ, 1, 100, cost, critical_first=crit)
            if span != 13 * 1300:
                fail(f"one worker, critical_first {crit}: {span} ns")
        # many workers: the critical path forward 1, 2, 3, backward 2, 1,
        # update 1, six tasks
        span, _ = sm.simulate(rows, succ, 16, 100, cost)
        if span != 6 * 1300:
            fail(f"16 workers: {span} ns, want {6 * 1300}")
        bl = sm.bottom_levels(rows, succ, 100, cost)
        for k, n in (((FWD, 1, 0), 6), ((BWD, 2, 1), 3), ((UPD, 3, 0), 1), ((FWD, 3, 0), 4)):
            if bl[k] != n * 1300:
                fail(f"longest path from {k}: {bl[k]}, want {n * 1300}")
        # two workers, releases free: with the ready list by longest path
        # first no schedule is longer than FIFO's on this DAG
        free = lambda k: (cost(k)[0], 0)
        fifo, _ = sm.simulate(rows, succ, 2, 0, free)
        crit, _ = sm.simulate(rows, succ, 2, 0, free, critical_first=True)
        if crit > fifo or crit < 6500:
            fail(f"two workers: critical-first {crit} ns against FIFO {fifo}")
        # no statistic: an update part's op ends at its upd_op mark, here
        # 600 ns after its start; the critical path ends with update 1
        for k, t in rows.items():
            t["upd_op"] = t["start"] + 600 if k[0] == UPD else 0
        span, _ = sm.simulate(rows, succ, 16, 100, sm.no_stat_cost(rows, cost))
        if span != 5 * 1300 + 100 + 600 + 200:
            fail(f"16 workers, no statistic: {span} ns, want {5 * 1300 + 900}")
        # weight gradients by batch tiles: none without the ops' phases;
        # with them (stage 300, math 100, apply 100 of the 600 to upd_op)
        # each of 2 pieces costs 600 - 100 - 400 + 400 / 2 = 300 and no
        # release, the combine the apply and the 400 after upd_op less its
        # take, then the part's release: the path forward 1, 2, 3, backward
        # 2, 1 (5 x 1300), a piece (100 + 300), the combine (100 + 400 + 200
        # less nothing: the take it skips is the one simulate charges)
        if sm.batch_tiled(rows, succ, 2, True, 100) is not None:
            fail("batch tiles without the ops' phases")
        for k, t in rows.items():
            t.update(ph_stage=300, ph_math=100, ph_apply=100)
        for by_rows in (False, True):
            bt = sm.batch_tiled(rows, succ, 2, by_rows, 100, 0, 0, 0)
            ups = sorted(k for k in bt[0] if k[0] == UPD)
            if len(ups) != 9 or bt[0][(UPD, 1, 0)]["done"] != 300 or \
                    bt[0][(UPD, 1, 2)]["done"] != 400 or bt[0][(UPD, 1, 2)]["rel"] != 600:
                fail(f"batch tiles: {ups}, {[bt[0][k] for k in ups[:3]]}")
            want = [(UPD, 1, 1)] if by_rows else [(UPD, 1, 0), (UPD, 1, 1)]
            if sorted(x for x in bt[1][(BWD, 1, 1)] if x[1] == 1) != want:
                fail(f"batch tiles, by rows {by_rows}: backward(1,1) -> {bt[1][(BWD, 1, 1)]}")
            if bt[1][(UPD, 2, 1)] != [(UPD, 2, 2)]:
                fail(f"batch tiles: a piece's successors {bt[1][(UPD, 2, 1)]}")
            span, _ = sm.simulate(bt[0], bt[1], 16, 100, sm.measured_cost(bt[0]))
            if span != 5 * 1300 + 400 + 700:
                fail(f"batch tiles, by rows {by_rows}: {span} ns, want {5 * 1300 + 1100}")
        for t in rows.values():
            for c in ("ph_stage", "ph_math", "ph_apply"):
                del t[c]
        # the tasks the read-ahead did not serve: roots (maker -1) and those
        # made by another worker's task; forward and backward only
        qrows = {k: dict(t) for k, t in rows.items()}
        qrows[(FWD, 2, 0)]["maker"] = qrows[(FWD, 1, 0)]["task"]  # worker 0 made, worker 2 runs
        qrows[(FWD, 1, 1)]["maker"] = qrows[(FWD, 3, 1)]["task"]  # worker 1 made, worker 1 runs
        qt = sm.queue_taken(qrows)
        if (FWD, 2, 0) not in qt or (FWD, 1, 1) in qt or (UPD, 1, 0) in qt or \
                (BWD, 2, 1) not in qt or len(qt) != 9:
            fail(f"queue-taken tasks: {sorted(qt)}")
        # a dump with the `ahead` column says it outright
        for k, t in qrows.items():
            t["ahead"] = 1 if k in ((FWD, 3, 0), (BWD, 1, 1), (UPD, 2, 0)) else 0
        qt = sm.queue_taken(qrows)
        if (FWD, 3, 0) in qt or (BWD, 1, 1) in qt or (FWD, 1, 1) not in qt or len(qt) != 8:
            fail(f"queue-taken tasks by `ahead`: {sorted(qt)}")
        r = subprocess.run([sys.executable, path, gp, tp], capture_output=True, text=True)
        if r.returncode != 0 or "longest path to the end" not in r.stdout or \
                "weights in two copies" not in r.stdout:
            fail(f"the command: rc {r.returncode}\n{r.stdout}\n{r.stderr}")
        # with the ops' phases (ph_edges 400 a task): the preambles free, the
        # path's six tasks 100 + 600 + 200 each; the edge records at the
        # take (every task a root here, so every forward and backward op
        # min(600, 400) shorter): the path's five forward and backward
        # tasks 900, its update 1300; the divisions 200 shorter: six of
        # 1100; the batch-tile rows appear
        ph = os.path.join(d, "ph.csv")
        with open(ph, "w") as f:
            f.write(",".join(cols + ["upd_op", "ph_edges", "ph_stage", "ph_math", "ph_apply"]) + "\n")
            for i, (k, p, t) in enumerate(keys):
                s = 10000 * i
                f.write(",".join(map(str, [i, k, p, t, i % 4, 7, 0, -1, s, s, s + 1000, s + 1200,
                                           s + 900 if k == UPD else 0, 400, 300, 100, 100])) + "\n")
        rp = subprocess.run([sys.executable, path, gp, ph, "--take", "100", "--pieces", "2"],
                            capture_output=True, text=True)
        if rp.returncode != 0 or "| ops' preambles free (every op less its ph_edges: record, set-up, edge table) | 5.4 |" not in rp.stdout \
                or "by 2 batch tiles" not in rp.stdout \
                or "(those not read ahead) 600 ns shorter | 5.8 |" not in rp.stdout \
                or "every op 200 ns shorter | 6.6 |" not in rp.stdout:
            fail(f"the command with phases: rc {rp.returncode}\n{rp.stdout}\n{rp.stderr}")
        # the same timeline gzip-compressed (as docs/bench keeps them)
        with open(tp, "rb") as f, gzip.open(tp + ".gz", "wb") as z:
            z.write(f.read())
        rz = subprocess.run([sys.executable, path, gp, tp + ".gz"], capture_output=True, text=True)
        if rz.returncode != 0 or rz.stdout.replace(".csv.gz", ".csv") != r.stdout:
            fail(f"the gzip-compressed timeline: rc {rz.returncode}\n{rz.stdout}\n{rz.stderr}")
    print("schedmodel: the DAG, one and many workers, longest paths, no backward -> update edges, "
          "no statistic, batch tiles, preambles free, records at the take, divisions: ok")


if __name__ == "__main__":
    main(sys.argv[1])
