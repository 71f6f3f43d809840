#!/usr/bin/env python3
"""Write the benchmark workloads as genet-rt graph files.

    tools/bench/make_graphs.py OUTDIR [--only NAME ...] [--quick] [--seed N]
    tools/bench/make_graphs.py OUTDIR --only mlp --mlp-layers 2 --mlp-groups 8

Every file uses hidden ids 1..H in topological file order, so genet-rt's
positions (and the weights file written by `genet-rt bench
--save-init-weights`) are the ids of the file. The generator uses its own
seeded random.Random, so the same seed gives the same files byte for byte.

Workloads (inputs 784, classes 10, the batch is a `genet-rt bench` option):

  layered     1024 groups of 32 in 32 levels of 32. Level 0 is fed by the
              input. A group of level L > 0 has 4 distinct in-groups from
              the previous WINDOW (default 4) levels, one of them from level
              L-1; those "just before" picks are a random permutation of
              level L-1, so every group has a successor. The output is fed
              by every group of the last level.
  deep        1024 groups of 32 whose dependency chain is 1024 long: group i
              is fed by i-1 and by min(3, available) distinct groups among
              i-2..i-8; group 1 by the input. The output is fed by every
              group without a successor (here only the last group).
  many        4096 groups of 16 in 64 levels of 64, fan-in 4 as layered.
  sweep-G-S   layered graphs with G groups of S in sqrt(G) levels of
              sqrt(G) for (G, S) in SWEEP; (1024, 32) is `layered` itself
              and is not written twice.
  wide-S-LxP  groups of S = 64, 128 or 256 in L levels of P (WIDE): each
              group of a level past the first fed by 2 of the level before,
              one of them a permutation's (layered with fan-in 2 and a
              window of 1); where one or two worker blocks an SM pay
              (docs/PERF.md, fortieth round). Not in the default set: ask
              with --only wide.
  mlp         a traditional MLP as a graph: LAYERS hidden layers of
              GROUPS groups of 32 (default 2 x 8 = 256 units per layer),
              layer 1 fed by the input, each later layer fully connected
              to the layer before, the output fed by the last layer.

A manifest (OUTDIR/manifest.json) lists what was written: name, file,
groups, group size, levels, edges.
"""
import argparse
import json
import math
import os
import random
import sys

INPUTS = 784
CLASSES = 10
SWEEP = [(64, 32), (256, 32), (1024, 32), (4096, 32), (1024, 8), (1024, 16), (1024, 64)]
# (group size, levels, groups a level) of the wide family
WIDE = [(64, 2, 8), (64, 2, 16), (64, 2, 32), (64, 2, 64),
        (128, 2, 8), (128, 2, 16), (128, 2, 32), (128, 2, 64),
        (256, 2, 8), (256, 2, 16), (256, 2, 32),
        (64, 8, 16), (128, 8, 8), (128, 16, 8), (256, 8, 4)]
ALL = ["layered", "deep", "many", "sweep", "mlp", "wide"]


def write_graph(path, size, groups, output_inputs):
    """groups: list of input lists, the group at index i has id i + 1."""
    ids = set([0])
    for i, ins in enumerate(groups):
        gid = i + 1
        assert ins and len(set(ins)) == len(ins), (path, gid, ins)
        assert all(s in ids for s in ins), (path, gid, ins)
        ids.add(gid)
    has_succ = set(s for ins in groups for s in ins) | set(output_inputs)
    missing = [i + 1 for i in range(len(groups)) if i + 1 not in has_succ]
    assert not missing, (path, "groups without successors", missing[:10])
    lines = ['{"format": "genet-graph", "version": 1,',
             ' "inputs": %d, "classes": %d, "group_size": %d,' % (INPUTS, CLASSES, size),
             ' "groups": [']
    body = ['  {"id": %d, "inputs": [%s]}' % (i + 1, ", ".join(str(s) for s in ins))
            for i, ins in enumerate(groups)]
    lines.append(",\n".join(body))
    lines.append(' ],')
    lines.append(' "output": {"inputs": [%s]}}' % ", ".join(str(s) for s in output_inputs))
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def layered(rng, n_levels, per_level, fanin=4, window=4):
    """Groups level by level; returns (groups, output inputs)."""
    groups = []
    levels = []  # ids per level
    for L in range(n_levels):
        ids = list(range(len(groups) + 1, len(groups) + 1 + per_level))
        if L == 0:
            for _ in ids:
                groups.append([0])
        else:
            prev = levels[L - 1]
            must = prev[:]
            rng.shuffle(must)  # a permutation: every group of L-1 gets a successor
            pool = [g for lv in levels[max(0, L - window):L] for g in lv]
            for j, _ in enumerate(ids):
                first = must[j % len(must)]
                others = [g for g in pool if g != first]
                k = min(fanin - 1, len(others))
                ins = [first] + rng.sample(others, k)
                groups.append(sorted(ins))
        levels.append(ids)
    # a level wider than the next (not produced here) would leave groups
    # without successors; feed any such group to the output as well
    out = levels[-1][:]
    has_succ = set(s for ins in groups for s in ins)
    extra = [g for g in range(1, len(groups) + 1) if g not in has_succ and g not in out]
    return groups, sorted(extra + out), n_levels


def deep(rng, n, back=8, extra=3):
    groups = []
    for i in range(1, n + 1):
        if i == 1:
            groups.append([0])
            continue
        cand = list(range(max(1, i - back), i - 1))  # i-8 .. i-2
        k = min(extra, len(cand))
        groups.append(sorted([i - 1] + rng.sample(cand, k)))
    has_succ = set(s for ins in groups for s in ins)
    out = [g for g in range(1, n + 1) if g not in has_succ]
    return groups, out, n


def mlp(layers, per_layer):
    groups = []
    prev = [0]
    for _ in range(layers):
        ids = list(range(len(groups) + 1, len(groups) + 1 + per_layer))
        for _ in ids:
            groups.append(prev[:])
        prev = ids
    return groups, prev, layers


def edges_of(groups, out):
    return sum(len(g) for g in groups) + len(out)


def flops_of(groups, out, size, batch):
    """FLOPs of one training step as `genet-rt bench` counts them (host/bench.c):
    2*B*K*N per edge for the forward, as much for the weight gradient, as
    much again for the error of a hidden source; 4 per parameter for the
    update."""
    f, params = 0.0, len(groups) * size + CLASSES
    for dst, ins in [(size, g) for g in groups] + [(CLASSES, out)]:
        for s in ins:
            k = INPUTS if s == 0 else size
            f += 2.0 * batch * k * dst * (2 if s == 0 else 3)
            params += k * dst
    return f + 4.0 * params


def bytes_of(groups, out, size, batch):
    """Bytes one training step moves if every tensor crosses memory once
    (the cost model's memory term; SGD with momentum, fp32):
    parameters (weights and biases, P floats) read by the forward and by
    the backward, read with their momentum and written back with it and
    with the gradient (kept for the host) by the update: 28 P bytes; each
    group's activations and each group's
    error written once and read once (the fan-out's other reads left to
    L2): 4 x B x width floats a group; the input batch read by the
    forward and by the input edges' update: 2 x B x 784 floats."""
    params, acts = len(groups) * size + CLASSES, len(groups) * size + CLASSES
    for dst, ins in [(size, g) for g in groups] + [(CLASSES, out)]:
        for s in ins:
            params += (INPUTS if s == 0 else size) * dst
    return 4.0 * (7 * params + 4 * batch * acts + 2 * batch * INPUTS)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--only", nargs="+", choices=ALL, default=None,
                    help="write only these workloads (default: all but wide)")
    ap.add_argument("--quick", action="store_true",
                    help="only the sweep's smallest graph (sweep-64-32): a smoke test")
    ap.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    ap.add_argument("--window", type=int, default=4,
                    help="levels a layered group may draw its inputs from (default 4)")
    ap.add_argument("--mlp-layers", type=int, default=2)
    ap.add_argument("--mlp-groups", type=int, default=8, help="groups of 32 per MLP layer")
    ap.add_argument("--mlp-size", type=int, default=32, help="MLP group size (default 32)")
    ap.add_argument("--mlp-name", default="mlp", help="file stem for the MLP (default mlp)")
    a = ap.parse_args(argv)
    os.makedirs(a.outdir, exist_ok=True)
    want = a.only or [w for w in ALL if w != "wide"]
    written = []

    def emit(name, size, gen):
        # each workload gets its own stream derived from the seed and its
        # name, so adding or skipping one never changes another
        rng = random.Random("%d/%s" % (a.seed, name))
        groups, out, levels = gen(rng)
        path = os.path.join(a.outdir, name + ".json")
        write_graph(path, size, groups, out)
        written.append({"name": name, "file": os.path.basename(path), "groups": len(groups), "size": size,
                        "levels": levels, "edges": edges_of(groups, out),
                        "flops_per_step_b256": flops_of(groups, out, size, 256),
                        "bytes_per_step_b256": bytes_of(groups, out, size, 256)})

    if a.quick:
        emit("sweep-64-32", 32, lambda r: layered(r, 8, 8, window=a.window))
    else:
        if "layered" in want:
            emit("layered", 32, lambda r: layered(r, 32, 32, window=a.window))
        if "deep" in want:
            emit("deep", 32, lambda r: deep(r, 1024))
        if "many" in want:
            emit("many", 16, lambda r: layered(r, 64, 64, window=a.window))
        if "sweep" in want:
            for G, S in SWEEP:
                if (G, S) == (1024, 32) and "layered" in want:
                    continue  # the same graph as layered
                side = int(math.isqrt(G))
                assert side * side == G
                emit("sweep-%d-%d" % (G, S), S,
                     lambda r, side=side: layered(r, side, side, window=a.window))
        if "mlp" in want:
            emit(a.mlp_name, a.mlp_size, lambda r: mlp(a.mlp_layers, a.mlp_groups))
        if "wide" in want:
            for S, L, P in WIDE:
                emit("wide-%d-%dx%d" % (S, L, P), S,
                     lambda r, L=L, P=P: layered(r, L, P, fanin=2, window=1))
    man = os.path.join(a.outdir, "manifest.json")
    old = []
    if os.path.exists(man):
        try:
            with open(man) as f:
                old = [w for w in json.load(f) if w["name"] not in {x["name"] for x in written}]
        except (ValueError, KeyError, TypeError):
            old = []
    with open(man + ".tmp", "w") as f:
        json.dump(old + written, f, indent=1)
    os.replace(man + ".tmp", man)
    for w in written:
        print("%-14s %5d groups of %2d, %4d levels, %6d edges  %s" %
              (w["name"], w["groups"], w["size"], w["levels"], w["edges"],
               os.path.join(a.outdir, w["file"])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
