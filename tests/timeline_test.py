#!/usr/bin/env python3
"""tools/bench/timeline.py on a made-up timeline whose answers are known by
hand (no GPU): a chain of three tasks (a forward, a backward, an update
part) on one worker, each op split by the ops' phase marks (the ph_*
columns of a -DGN_DIAG_TIMELINE dump; the update's apply by its ap_*).
Checked: the critical path and its parts, each hop's phases and the op's
rest (an update's op ends at upd_op), the per-kind means, the apply's
split, the read-ahead's share and edges phase where the dump says which
tasks were read ahead (its ahead column), and that a dump without those
columns reads as before (no phase lines).

    timeline_test.py TIMELINE_PY
"""
import contextlib
import importlib.util
import io
import os
import sys
import tempfile

COLS = ["task", "kind", "pos", "tile", "worker", "step", "ready", "maker", "take", "start",
        "done", "rel", "pre", "upd_op", "upd_stat", "stat_sum1", "stat_tree1", "stat_sum2"]
PH = ["ph_edges", "ph_stage", "ph_math", "ph_apply", "ap_search", "ap_load", "ap_rule",
      "ap_store"]

# ns; each task made ready by the one before it (its maker), run as its
# continuation on worker 3
TASKS = [
    # forward: op 100 -> 5100 (5.0 us): edges 1.0, staging 2.0, arithmetic 1.5, rest 0.5
    dict(task=0, kind=0, pos=1, tile=0, ready=0, maker=-1, take=0, start=100, done=5100,
         rel=5300, upd_op=0, ph=[1000, 2000, 1500, 0, 0, 0, 0, 0]),
    # backward: ready at 5200 (the release's decrement), op 5400 -> 8400:
    # edges 0.5, staging 1.0, arithmetic 1.0, rest 0.5
    dict(task=1, kind=1, pos=1, tile=0, ready=5200, maker=0, take=5300, start=5400, done=8400,
         rel=8600, upd_op=0, ph=[500, 1000, 1000, 0, 0, 0, 0, 0]),
    # update: ready at 8500, op 8700 -> upd_op 12700 (then its part's end to
    # 13000): edges 0.5, staging 1.0, arithmetic 1.5, optimizer 0.8 (its
    # offsets 0.2, loads 0.3, rule 0.2, stores 0.1), rest 0.2
    dict(task=2, kind=2, pos=1, tile=0, ready=8500, maker=1, take=8600, start=8700, done=13000,
         rel=13100, upd_op=12700, ph=[500, 1000, 1500, 800, 200, 300, 200, 100]),
]


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def write(path, phases, ahead=False):
    """ahead: the dump's last column, the backward task read ahead."""
    with open(path, "w") as f:
        f.write(",".join(COLS + (PH if phases else []) + (["ahead"] if ahead else [])) + "\n")
        for t in TASKS:
            row = [t["task"], t["kind"], t["pos"], t["tile"], 3, 49, t["ready"], t["maker"],
                   t["take"], t["start"], t["done"], t["rel"], 0, t["upd_op"], 0, 0, 0, 0]
            row += t["ph"] if phases else []
            row += [1 if t["kind"] == 1 else 0] if ahead else []
            f.write(",".join(map(str, row)) + "\n")


def run(tl, path):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        row = tl.analyse(path, 3)
    return row, out.getvalue()


def main(path):
    spec = importlib.util.spec_from_file_location("timeline", path)
    tl = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tl)
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "t.csv")
        write(p, True)
        row, text = run(tl, p)
        # the path: ops 5.0 + 3.0 + 4.3 (the update to done), releases to
        # the decrements 0.1 + 0.1, hand-offs 0.1 (the first, from the
        # pass's start) + 0.2 + 0.2: 13.0 us from the first take
        if abs(row["path"] - 13.0) > 1e-9 or row["hops"] != 3:
            fail(f"critical path {row['path']} us over {row['hops']} hops, want 13.0 over 3")
        if abs(row["op"] - 12.3) > 1e-9:
            fail(f"ops on the path {row['op']} us, want 12.3")
        want = {
            0: [1.0, 2.0, 1.5, 0.0, 0.5],
            1: [0.5, 1.0, 1.0, 0.0, 0.5],
            2: [0.5, 1.0, 1.5, 0.8, 0.2],
        }
        tasks = tl.load(p)
        for i, w in want.items():
            got = tl.phases(tasks[i])
            if any(abs(a - b) > 1e-9 for a, b in zip(got, w)):
                fail(f"task {i}'s phases {got}, want {w}")
        # each hop's line ends with its phases, the kinds' means after
        hop_lines = [l for l in text.splitlines() if l.strip().split()[:1] in (["0"], ["1"], ["2"])]
        if len(hop_lines) != 3 or not hop_lines[2].rstrip().endswith("0.50  1.00  1.50  0.80  0.20"):
            fail(f"the path's hops:\n{text}")
        means = [l for l in text.splitlines() if l.strip().startswith("update ")]
        if not means or not any(l.split()[1:] == ["0.50", "1.00", "1.50", "0.80", "0.20"]
                                for l in means):
            fail(f"the update kind's phase means:\n{text}")
        if "offsets found 0.20, their loads arrived 0.30, the rule 0.20, the stores issued 0.10" \
                not in " ".join(text.split()):
            fail(f"the update's apply split:\n{text}")
        if "read ahead" in text:
            fail(f"a dump without the ahead column:\n{text}")
        # with the ahead column: the read-ahead's share by kind, and the
        # edges phase with and without it
        a = os.path.join(d, "ahead.csv")
        write(a, True, ahead=True)
        _, text3 = run(tl, a)
        if "read ahead: forward 0 of 1 (edges phase, mean us: - read ahead, 1.00 not), " \
                "backward 1 of 1 (edges phase, mean us: 0.50 read ahead, - not)" not in text3:
            fail(f"the read-ahead's line:\n{text3}")
        # a dump of an older build: no ph_* columns, no phase lines
        q = os.path.join(d, "old.csv")
        write(q, False)
        row2, text2 = run(tl, q)
        if "phases" in text2 or abs(row2["path"] - 13.0) > 1e-9:
            fail(f"an old dump:\n{text2}")
    print("ok: timeline.py splits the path's ops by their phases, the read-ahead's share; an old "
          "dump reads as before")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
