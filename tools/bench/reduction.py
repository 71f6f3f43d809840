#!/usr/bin/env python3
"""What a transitive reduction of a graph's task DAG would remove (no GPU).

    tools/bench/reduction.py GRAPH.json [MORE.json ...]

A step's task DAG (runtime/sched/taskgraph.h) repeats each edge s -> g of
the network per batch tile: forward(s, t) -> forward(g, t) and
backward(g, t) -> backward(s, t) for hidden s and g. Such a task edge is
implied by a longer path when s is an ancestor of another input of g (the
same holds for both kinds); a reduced DAG would drop it, and ordering and
visibility would still follow along the path (each hop a release and an
acquire, or the same worker's program order). This script counts, for each
graph file (tools/bench/make_graphs.py's format):

  - the network's edges between hidden groups and how many are implied;
  - the forward releases that take the release's fast path (dag.h: one
    successor, whose in-degree is 1: no fence, no atomic), as the DAG is
    now and reduced;
  - the backward tasks with a successor backward of in-degree 1 (it could
    run at once as the continuation; a backward also makes update parts
    ready, so its release still decrements those), now and reduced.

The runtime reduces its DAGs since the forty-second round of issue 12
(runtime/sched/taskgraph.h, gn_task_cut_*), but only within a window of
the 64 positions before each group: this script's full reduction is what
a wider window could still add (on `layered` and `many`, whose levels
hold 32-64 groups, most of it; on `deep` and `sweep-64-32`, nothing).

The table is printed last.
"""
import json
import sys


def load(path):
    d = json.load(open(path))
    ins = {0: []}
    for g in d["groups"]:
        ins[g["id"]] = list(g["inputs"])
    out = max(ins) + 1
    ins[out] = list(d["output"]["inputs"])
    for g, srcs in ins.items():
        for s in srcs:
            if not s < g:
                raise SystemExit(f"reduction.py: {path}: group {g} reads {s}, not an earlier id")
    return ins, out


def reduce_edges(ins):
    """Each group's inputs without those implied by a longer path (bitsets of ancestors)."""
    anc, red = {}, {}
    for g in sorted(ins):
        a = 0
        for s in ins[g]:
            a |= anc[s] | (1 << s)
        anc[g] = a
    for g in sorted(ins):
        red[g] = [s for s in ins[g]
                  if not any(s2 != s and (anc[s2] >> s) & 1 for s2 in ins[g])]
    return red


def counts(ins, out):
    """(hidden edges, forward releases, on the fast path, backwards with a sole successor)."""
    hidden = [g for g in sorted(ins) if g not in (0, out)]
    readers = {g: [] for g in hidden}
    for h in hidden:
        for s in ins[h]:
            if s != 0:
                readers[s].append(h)
    edges = sum(len(readers[g]) for g in hidden)
    fwd_in = {g: sum(1 for s in ins[g] if s != 0) for g in hidden}
    rel = sum(1 for s in hidden if readers[s])
    fast = sum(1 for s in hidden if len(readers[s]) == 1 and fwd_in[readers[s][0]] == 1)
    # backward(g) -> backward(s) for hidden s -> g; backward(s)'s in-degree: s's hidden readers
    sole = sum(1 for g in hidden
               if any(s != 0 and len(readers[s]) == 1 for s in ins[g]))
    return edges, rel, fast, sole


def row(path):
    ins, out = load(path)
    now = counts(ins, out)
    red = counts(reduce_edges(ins), out)
    hidden = len(ins) - 2
    name = path.rsplit("/", 1)[-1].removesuffix(".json")
    cut = now[0] - red[0]
    return (f"| {name} | {hidden} | {now[0]} | {cut} ({100 * cut / max(now[0], 1):.0f} %) | "
            f"{now[2]} -> {red[2]} of {now[1]} | {now[3]} -> {red[3]} of {hidden} |")


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(argv) >= 2 else 2
    rows = [row(p) for p in argv[1:]]
    print("| graph | hidden groups | edges between hidden groups | implied by a longer path "
          "| forward releases on the fast path, now -> reduced | backward tasks with a sole "
          "successor backward, now -> reduced |")
    print("| --- | ---: | ---: | ---: | --- | --- |")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
