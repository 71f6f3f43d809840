#!/usr/bin/env python3
"""The same network as a genet-rt graph file, trained in PyTorch: contenders.

    torch_bench.py GRAPH WEIGHTS BATCH --genet-json BENCH.json [options]

GRAPH is a genet-rt graph file, WEIGHTS and BATCH the files written by
`genet-rt bench GRAPH --save-init-weights WEIGHTS --save-batch BATCH --json`
(whose JSON object, BENCH.json, gives the initial loss to reproduce and the
FLOPs of a step). Every contender starts from exactly genet-rt's initial
weights and trains on the saved batch (the same rows every step; the math
per step does not depend on the values), at the arithmetic --precision
names (give genet-rt bench the same one, to compare like with like):

  fp32   (default) fp32 with TF32 off: allow_tf32 False for matmul and
         cuDNN, set_float32_matmul_precision("highest").
  tf32   the fp32 products on the tensor cores as TF32: allow_tf32 True for
         matmul and cuDNN, set_float32_matmul_precision("high"); parameters,
         activations and the update stay fp32.
  bf16   mixed precision the standard PyTorch way: forward and loss under
         torch.autocast(dtype=torch.bfloat16) (the products in bf16 on the
         tensor cores, cuBLAS's reductions as PyTorch leaves them by default;
         the loss in fp32), backward outside it; parameters, gradients,
         momentum and the update stay fp32; TF32 off as for fp32.
         A captured step enters the autocast inside the captured function,
         with cache_enabled=False (PyTorch's rule for autocast under CUDA
         graph capture); torch.compile runs under it. With --device cpu the
         CPU's autocast: a logic check only.

Contenders (one JSON line each on stdout; logs on stderr):

  eager        one "nn.Linear equivalent" per group: an addmm per in-edge
               (the first one adds the bias), ReLU; autograd; torch.optim.SGD
               (momentum 0.9, lr 0.01, foreach).
  eager-graph  the same whole step (forward, backward, SGD) captured once as
               a CUDA graph and replayed (torch.cuda.graph, the "whole
               network capture" recipe: warm-up on a side stream, grads set
               to None before capture, a hand-written foreach SGD on static
               parameters and momentum buffers; at bf16 the autocast is part
               of the captured function).
  level        level-batched ("dynamic batching"): the groups of one
               topological level run as one torch.baddbmm over stacked
               weights (n, F*S, S); inputs gathered from the previous levels
               with one index_select; missing in-edges padded with a zero
               block whose weights stay exactly zero; input-fed edges of a
               level as one matmul (inputs, n*S); eager, torch.optim.SGD.
  level-graph  the level-batched step captured as a CUDA graph.
  compile      torch.compile of the level-batched forward+loss (default
               mode; backward through AOTAutograd), torch.optim.SGD; only
               with --compile, bounded by --compile-timeout.

Checks, before timing: each contender's loss on the batch under the initial
weights must equal genet-rt's initial_loss within --tol (relative), and its
losses after one and two training steps must equal the eager contender's
within --tol-step (relative): that check exercises backward and the update
with its momentum (padding included). genet-rt's initial_loss is computed in
fp32, and at tf32 or bf16 the contenders round their products differently
from each other, so the defaults follow --precision: 1e-4 and 1e-4 at fp32,
5e-3 and 5e-3 at tf32, 3e-2 and 3e-2 at bf16 (a value given on the command
line wins). A failed check prints both numbers, marks the contender "ok":
false, skips its timing, and the program exits 3.

Every JSON line carries "precision" (fp32, tf32 or bf16).

Timing: --warmup steps, then one step timed by wall clock sets the number
of timed steps (at most --steps, at least --min-steps, about --budget
seconds); each timed step lies between two CUDA events on the stream, and
the figure is the median (the mean too) of those per-step times.
"""
import argparse
import contextlib
import json
import math
import os
import signal
import statistics
import struct
import sys
import time

CONTENDERS = ["eager", "eager-graph", "level", "level-graph", "compile"]

# --precision: default (--tol, --tol-step). genet-rt's initial loss is fp32,
# so a forward at reduced precision is only this close to it.
TOL = {"fp32": (1e-4, 1e-4), "tf32": (5e-3, 5e-3), "bf16": (3e-2, 3e-2)}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- files


class Net:
    """A graph file plus its weights: positions 0 (input) .. H+1 (output)."""

    def __init__(self, graph_path, weights_path):
        with open(graph_path) as f:
            g = json.load(f)
        if g.get("format") != "genet-graph":
            raise ValueError("%s: not a genet-graph file" % graph_path)
        self.inputs, self.classes, self.S = g["inputs"], g["classes"], g["group_size"]
        ids = [gr["id"] for gr in g["groups"]]
        if ids != list(range(1, len(ids) + 1)):
            raise ValueError("%s: hidden ids must be 1..H in file order (positions == ids)"
                             % graph_path)
        self.H = len(ids)
        self.out = self.H + 1
        self.file_inputs = {gr["id"]: sorted(gr["inputs"]) for gr in g["groups"]}
        self.file_inputs[self.out] = sorted(g["output"]["inputs"])
        self.width = {0: self.inputs, self.out: self.classes}
        for p in range(1, self.H + 1):
            self.width[p] = self.S
        self._read_weights(weights_path)

    def _read_weights(self, path):
        with open(path, "rb") as f:
            buf = f.read()
        if buf[:8] != b"GNWEIGHT":
            raise ValueError("%s: not a genet-rt weights file" % path)
        ver, n = struct.unpack_from("<II", buf, 8)
        if ver != 1 or n != self.H + 2:
            raise ValueError("%s: version %d, %d groups; the graph has %d" % (path, ver, n,
                                                                            self.H + 2))
        off = 16
        self.bias = {}   # pos -> (offset, width) into self.raw
        self.edges = {}  # pos -> [(src, K, offset)] in canonical order (by source)
        for p in range(1, n):
            width, cnt = struct.unpack_from("<II", buf, off)
            off += 8
            if width != self.width[p]:
                raise ValueError("%s: position %d has width %d, expected %d" %
                                 (path, p, width, self.width[p]))
            self.bias[p] = off
            off += 4 * width
            ins = []
            for _ in range(cnt):
                src, K = struct.unpack_from("<II", buf, off)
                off += 8
                if K != self.width.get(src):
                    raise ValueError("%s: edge %d -> %d has K %d" % (path, src, p, K))
                ins.append((src, K, off))
                off += 4 * K * width
            if [s for s, _, _ in ins] != self.file_inputs[p]:
                raise ValueError("%s: in-edges of position %d are %s, the graph says %s" %
                                 (path, p, [s for s, _, _ in ins], self.file_inputs[p]))
            self.edges[p] = ins
        if off != len(buf):
            raise ValueError("%s: %d trailing bytes" % (path, len(buf) - off))
        self.raw = bytearray(buf)

    def tensor(self, torch, off, shape):
        n = 1
        for d in shape:
            n *= d
        return torch.frombuffer(self.raw, dtype=torch.float32, count=n,
                                offset=off).clone().view(*shape)

    def levels(self):
        """Level of each position: input 0, hidden 1 + max over sources."""
        lv = {0: 0}
        for p in range(1, self.H + 1):
            lv[p] = 1 + max(lv[s] for s, _, _ in self.edges[p])
        return lv


def read_batch(torch, path, inputs):
    with open(path, "rb") as f:
        buf = bytearray(f.read())
    B, r = divmod(len(buf), 4 * inputs + 1)
    if r or B == 0:
        raise ValueError("%s: %d bytes is not batch x (%d floats + 1 label)" %
                         (path, len(buf), inputs))
    x = torch.frombuffer(buf, dtype=torch.float32, count=B * inputs).clone().view(B, inputs)
    y = torch.frombuffer(buf, dtype=torch.uint8, count=B, offset=4 * B * inputs).clone().long()
    return x, y


# ---------------------------------------------------------------- models


class EagerModel:
    """One addmm per in-edge (+ bias), ReLU, per group, in position order."""

    def __init__(self, torch, net, dev):
        self.torch, self.net = torch, net
        self.b, self.W, self.params, self.init = {}, {}, [], []
        for p in range(1, net.out + 1):
            self.b[p] = self._param(net.tensor(torch, net.bias[p], (net.width[p],)), dev)
            self.W[p] = [(s, self._param(net.tensor(torch, o, (K, net.width[p])), dev))
                         for s, K, o in net.edges[p]]

    def _param(self, t, dev):
        t = t.to(dev)
        self.init.append(t.clone())
        t.requires_grad_(True)
        self.params.append(t)
        return t

    def logits(self, x):
        torch, net = self.torch, self.net
        act = [x] + [None] * net.out
        for p in range(1, net.out + 1):
            z = None
            for s, W in self.W[p]:
                z = torch.addmm(self.b[p] if z is None else z, act[s], W)
            act[p] = torch.relu(z) if p != net.out else z
        return act[net.out]

    def loss(self, x, y):
        return self.torch.nn.functional.cross_entropy(self.logits(x), y)


class LevelModel:
    """Groups of one topological level as one batched matmul.

    Level L (n groups of width S, at most F hidden in-edges each):
      X  = cat(outputs of the source levels [, zero block]).index_select(idx)
           -> (n, F, B, S) -> (n, B, F*S)
      Z  = baddbmm(b (n,1,S), X, Wh (n, F*S, S))  [+ input part]
    Input part: the groups with an input edge, (B, inputs) @ (inputs, m*S),
    added to their rows. The output (width C) is a last stage: its hidden
    sources gathered the same way, one addmm with (Fo*S, C).
    """

    def __init__(self, torch, net, dev, batch):
        self.torch, self.net = torch, net
        S, B = net.S, batch
        self.params, self.init = [], []
        lv = net.levels()
        nlev = max([lv[p] for p in range(1, net.H + 1)] or [0])
        members = [[] for _ in range(nlev + 1)]
        for p in range(1, net.H + 1):
            members[lv[p]].append(p)
        where = {p: (lv[p], i) for L in range(1, nlev + 1) for i, p in enumerate(members[L])}
        self.members = members
        self.zero = torch.zeros(1, B, S, device=dev)
        self.stages = []
        for L in range(1, nlev + 1):
            self.stages.append(self._stage(net, members[L], where, dev, S, False))
        self.out_stage = self._stage(net, [net.out], where, dev, S, True)
        self.nlevels = nlev

    def _param(self, t, dev):
        t = t.to(dev)
        self.init.append(t.clone())
        t.requires_grad_(True)
        self.params.append(t)
        return t

    def _stage(self, net, groups, where, dev, S, is_out):
        torch = self.torch
        n = len(groups)
        width = net.width[groups[0]]
        hid = [[(s, o) for s, _, o in net.edges[p] if s != 0] for p in groups]
        inp = [[o for s, _, o in net.edges[p] if s == 0] for p in groups]
        F = max(len(h) for h in hid)
        st = {"n": n, "F": F, "out": is_out}
        # bias (n, 1, width) for hidden levels, (width,) for the output
        bias = torch.stack([net.tensor(torch, net.bias[p], (width,)) for p in groups])
        st["b"] = self._param(bias.view(width) if is_out else bias.view(n, 1, width), dev)
        if F > 0:
            srclev = sorted(set(where[s][0] for h in hid for s, _ in h))
            base, acc = {}, 0
            for L in srclev:
                base[L] = acc
                acc += len(self.members[L])
            pad = any(len(h) < F for h in hid)
            idx, W = [], torch.zeros(n, F * S, width)
            for i, h in enumerate(hid):
                for f in range(F):
                    if f < len(h):
                        s, o = h[f]
                        L, j = where[s]
                        idx.append(base[L] + j)
                        W[i, f * S:(f + 1) * S, :] = net.tensor(torch, o, (S, width))
                    else:
                        idx.append(acc)  # the zero block; W rows stay 0
            st["srclev"] = srclev
            st["pad"] = pad
            st["idx"] = torch.tensor(idx, dtype=torch.long, device=dev)
            st["Wh"] = self._param(W.view(F * S, width) if is_out else W, dev)
        has_in = [i for i, o in enumerate(inp) if o]
        if has_in:
            K = net.inputs
            Wi = torch.cat([net.tensor(torch, inp[i][0], (K, width)) for i in has_in], 1)
            st["Wi"] = self._param(Wi, dev)
            st["m"] = len(has_in)
            st["in_all"] = len(has_in) == n
            st["in_idx"] = torch.tensor(has_in, dtype=torch.long, device=dev)
        return st

    def _gather(self, st, H):
        torch = self.torch
        srcs = [H[L] for L in st["srclev"]]
        if st["pad"]:
            # the zero block in the levels' dtype (bf16 under autocast; at
            # fp32 .to returns self.zero itself)
            srcs.append(self.zero.to(srcs[0].dtype))
        src = srcs[0] if len(srcs) == 1 else torch.cat(srcs, 0)
        return src.index_select(0, st["idx"])  # (n*F, B, S)

    def logits(self, x):
        torch = self.torch
        B, S = x.shape[0], self.net.S
        H = [None]
        for st in self.stages:
            n, F = st["n"], st["F"]
            z = None
            if F > 0:
                X = self._gather(st, H).view(n, F, B, S).transpose(1, 2).reshape(n, B, F * S)
                z = torch.baddbmm(st["b"], X, st["Wh"])
            if "Wi" in st:
                zi = torch.mm(x, st["Wi"]).view(B, st["m"], S).transpose(0, 1)
                if z is None:
                    # the bias in zi's dtype: under autocast the level stays
                    # bf16 like the others (at fp32 .to returns st["b"] itself)
                    z = zi + st["b"].to(zi.dtype)
                elif st["in_all"]:
                    z = z + zi
                else:
                    z = z.index_add(0, st["in_idx"], zi)
            H.append(torch.relu(z))
        st = self.out_stage
        z = None
        if st["F"] > 0:
            X = self._gather(st, H).view(st["F"], B, S).transpose(0, 1).reshape(B, st["F"] * S)
            z = torch.addmm(st["b"], X, st["Wh"])
        if "Wi" in st:
            z = torch.addmm(st["b"] if z is None else z, x, st["Wi"])
        return z

    def loss(self, x, y):
        return self.torch.nn.functional.cross_entropy(self.logits(x), y)


# ---------------------------------------------------------------- precision


def set_matmul_precision(torch, precision):
    """TF32 on for tf32, off for fp32 and bf16 (what autocast leaves in fp32
    stays exact fp32)."""
    tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    if hasattr(torch, "set_float32_matmul_precision"):
        torch.set_float32_matmul_precision("high" if tf32 else "highest")


def autocast(torch, precision, dev, cache_enabled=True):
    """The context of a forward and its loss: bf16 autocast on dev's type
    for bf16, nothing for fp32 and tf32. Inside a captured CUDA graph
    cache_enabled must be False (PyTorch's rule for autocast under capture)."""
    if precision != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(device_type=dev.type, dtype=torch.bfloat16,
                          cache_enabled=cache_enabled)


def at_precision(torch, fn, precision, dev, cache_enabled=True):
    """fn(x, y) -> loss, with its forward and loss under autocast(); fn itself
    where that is nothing (fp32, tf32). The backward stays outside."""
    if precision != "bf16":
        return fn

    def loss(x, y):
        with autocast(torch, precision, dev, cache_enabled):
            return fn(x, y)

    return loss


# ---------------------------------------------------------------- steps


def reset(torch, model, opt=None, bufs=None):
    """Initial weights and zero momentum, in place (a captured graph keeps
    pointing at the same tensors). Gradients of an eager contender are
    dropped; a captured graph's stay: they live in the graph's pool and the
    graph overwrites them."""
    with torch.no_grad():
        for p, p0 in zip(model.params, model.init):
            p.copy_(p0)
        if bufs is not None:
            for v in bufs:
                v.zero_()
    if opt is not None:
        opt.state.clear()  # momentum buffers start again from the first gradient
        for p in model.params:
            p.grad = None


def eager_step(torch, model, x, y, lr, mu, loss_fn=None):
    opt = torch.optim.SGD(model.params, lr=lr, momentum=mu)
    fn = loss_fn or model.loss

    def step():
        opt.zero_grad(set_to_none=True)
        loss = fn(x, y)
        loss.backward()
        opt.step()
        return loss

    return step, (lambda: reset(torch, model, opt=opt))


def graphed_step(torch, model, x, y, lr, mu, loss_fn=None):
    """Whole-step capture (PyTorch docs, "CUDA Graphs: whole network
    capture"): warm-up steps on a side stream, grads set to None so the
    captured backward allocates them from the graph's pool, then one step
    captured; the SGD is hand-written on static parameters and momentum
    buffers (no optimizer state created during the capture). loss_fn (default
    model.loss) runs inside the captured function, its autocast too."""
    params = model.params
    bufs = [torch.zeros_like(p) for p in params]
    fn = loss_fn or model.loss

    def body():
        loss = fn(x, y)
        loss.backward()
        with torch.no_grad():
            grads = [p.grad for p in params]
            torch._foreach_mul_(bufs, mu)
            torch._foreach_add_(bufs, grads)
            torch._foreach_add_(params, bufs, alpha=-lr)
        return loss

    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            for p in params:
                p.grad = None
            body()
    torch.cuda.current_stream().wait_stream(s)
    for p in params:
        p.grad = None  # backward in the capture allocates them from the graph's pool
    g = torch.cuda.CUDAGraph()
    # capture on the warm-up stream: library handles and workspaces that
    # are cached per stream (cuBLAS, cuBLASLt) then exist before the capture
    with torch.cuda.graph(g, stream=s):
        static_loss = body()
    torch.cuda.synchronize()

    def step():
        g.replay()
        return static_loss

    return step, (lambda: reset(torch, model, bufs=bufs)), g


def time_steps(torch, dev, step, warmup, max_steps, min_steps, budget):
    cuda = dev.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    for _ in range(warmup):
        step()
    sync()
    t0 = time.perf_counter()
    step()
    sync()
    one = time.perf_counter() - t0
    n = max(min_steps, min(max_steps, int(budget / max(one, 1e-6))))
    w0 = time.perf_counter()
    if cuda:
        ev = [torch.cuda.Event(enable_timing=True) for _ in range(n + 1)]
        ev[0].record()
        for i in range(n):
            step()
            ev[i + 1].record()
        sync()
        dt = [ev[i].elapsed_time(ev[i + 1]) for i in range(n)]
    else:
        dt, last = [], time.perf_counter()
        for _ in range(n):
            step()
            now = time.perf_counter()
            dt.append((now - last) * 1e3)
            last = now
    wall = (time.perf_counter() - w0) * 1e3 / n
    return statistics.median(dt), statistics.mean(dt), n, wall


class Timeout(Exception):
    pass


# ---------------------------------------------------------------- main


def main(argv):
    ap = argparse.ArgumentParser(
        description="Train a genet-rt graph file's network in PyTorch (see the module doc).")
    ap.add_argument("graph")
    ap.add_argument("weights")
    ap.add_argument("batch")
    ap.add_argument("--genet-json", help="genet-rt bench --json output (initial_loss, flops)")
    ap.add_argument("--initial-loss", type=float, help="genet-rt's initial_loss (else from --genet-json)")
    ap.add_argument("--name", help="workload name for the JSON lines (default: graph file stem)")
    ap.add_argument("--only", nargs="+", choices=CONTENDERS, help="run only these contenders")
    ap.add_argument("--compile", action="store_true", help="also run torch.compile (slow to build)")
    ap.add_argument("--compile-timeout", type=float, default=300,
                    help="give up on torch.compile after this many seconds (default 300)")
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu (logic checks only)")
    ap.add_argument("--steps", type=int, default=50, help="most timed steps (default 50)")
    ap.add_argument("--min-steps", type=int, default=5, help="fewest timed steps (default 5)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    ap.add_argument("--budget", type=float, default=4.0,
                    help="seconds of timed steps per contender, roughly (default 4)")
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--precision", choices=list(TOL), default="fp32",
                    help="arithmetic of the products, as genet-rt's --precision: fp32 (TF32 "
                    "off), tf32 (TF32 on), bf16 (autocast to bfloat16, fp32 parameters); "
                    "default fp32")
    ap.add_argument("--tol", type=float, default=None,
                    help="relative, initial loss vs genet-rt's fp32 one (default by "
                    "--precision: 1e-4 fp32, 5e-3 tf32, 3e-2 bf16)")
    ap.add_argument("--tol-step", type=float, default=None,
                    help="relative, losses after one and two steps vs eager (default by "
                    "--precision: 1e-4 fp32, 5e-3 tf32, 3e-2 bf16)")
    a = ap.parse_args(argv)
    if a.tol is None:
        a.tol = TOL[a.precision][0]
    if a.tol_step is None:
        a.tol_step = TOL[a.precision][1]
    name = a.name or os.path.splitext(os.path.basename(a.graph))[0]
    want = a.only or [c for c in CONTENDERS if c != "compile" or a.compile]
    if a.compile and "compile" not in want:
        want.append("compile")

    def emit(rec):
        rec = dict({"workload": name, "graph": a.graph, "precision": a.precision}, **rec)
        print(json.dumps(rec), flush=True)

    def skip_all(why):
        for c in want:
            emit({"contender": "torch-" + c, "ok": False, "skipped": True, "note": why})
        log("torch_bench: skipped: " + why)
        return 0

    try:
        import torch
    except ImportError as e:
        return skip_all("PyTorch is not installed (%s)" % e)
    dev = torch.device(a.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        return skip_all("PyTorch %s sees no CUDA device" % torch.__version__)
    if a.precision == "bf16":
        if not hasattr(torch, "autocast"):
            return skip_all("torch %s has no torch.autocast (--precision bf16)"
                            % torch.__version__)
        if dev.type == "cuda" and hasattr(torch.cuda, "is_bf16_supported") and \
                not torch.cuda.is_bf16_supported():
            return skip_all("%s does not support bf16" % torch.cuda.get_device_name(dev))
    set_matmul_precision(torch, a.precision)
    if dev.type != "cuda" and a.precision != "fp32":
        log("torch_bench: --precision %s on %s: a logic check (%s)" % (
            a.precision, dev.type, "the CPU's bf16 autocast" if a.precision == "bf16"
            else "the TF32 switches are CUDA's: fp32 here"))

    def amp(fn, captured=False):
        """fn(x, y) -> loss at --precision (see at_precision)."""
        return at_precision(torch, fn, a.precision, dev, cache_enabled=not captured)

    genet = {}
    if a.genet_json:
        with open(a.genet_json) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    genet = json.loads(line)
    ref_loss = a.initial_loss if a.initial_loss is not None else genet.get("initial_loss")
    if ref_loss is None:
        log("torch_bench: give --genet-json or --initial-loss")
        return 2
    flops = genet.get("flops_per_step")
    if genet.get("precision", a.precision) != a.precision:
        log("torch_bench: note: genet-rt ran at %s, these contenders at %s: not like for like"
            % (genet["precision"], a.precision))

    net = Net(a.graph, a.weights)
    x, y = read_batch(torch, a.batch, net.inputs)
    x, y = x.to(dev), y.to(dev)
    B = x.shape[0]
    devname = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    log("torch_bench: %s: %d groups of %d, batch %d, torch %s on %s, %s (tol %g, %g), "
        "genet-rt initial loss %.7f" % (name, net.H, net.S, B, torch.__version__, devname,
                                        a.precision, a.tol, a.tol_step, ref_loss))
    common = {"device": devname, "torch": torch.__version__, "batch": B,
              "genet_initial_loss": ref_loss, "flops_per_step": flops}
    failed = False
    ref_step_loss = None

    def check(label, step, rst):
        """Loss under the initial weights, then after one and two steps (the
        second step is the first to use the momentum)."""
        nonlocal ref_step_loss
        rst()
        l0 = float(step().item())
        l1 = float(step().item())
        l2 = float(step().item())
        rst()
        e0 = abs(l0 - ref_loss) / max(abs(ref_loss), 1e-30)
        res = {"initial_loss": l0, "initial_loss_rel_err": e0, "loss_after_steps": [l1, l2]}
        ok = e0 <= a.tol and math.isfinite(l0)
        log("torch_bench: %-12s initial loss %.7f vs genet-rt %.7f (rel err %.2e) %s" %
            (label, l0, ref_loss, e0, "ok" if ok else "MISMATCH"))
        if ref_step_loss is None:
            ref_step_loss = [l1, l2]
        else:
            e1 = max(abs(u - v) / max(abs(v), 1e-30) for u, v in zip([l1, l2], ref_step_loss))
            res["loss_after_steps_rel_err"] = e1
            res["ref_loss_after_steps"] = ref_step_loss
            ok1 = e1 <= a.tol_step
            log("torch_bench: %-12s loss after 1, 2 steps %.7f %.7f vs eager %.7f %.7f "
                "(rel err %.2e) %s" % (label, l1, l2, ref_step_loss[0], ref_step_loss[1], e1,
                                      "ok" if ok1 else "MISMATCH"))
            ok = ok and ok1
        if not ok:
            log("torch_bench: *** %s: %s does not compute genet-rt's function ***" % (name, label))
        return ok, res

    def run(label, build):
        nonlocal failed
        rec = {"contender": "torch-" + label}
        rec.update(common)
        t0 = time.perf_counter()
        try:
            step, rst = build()
        except Timeout as e:
            rec.update(ok=False, skipped=True, note=str(e))
            emit(rec)
            return
        except Exception as e:  # a contender that cannot run is a note, not a crash
            rec.update(ok=False, skipped=True, note="%s: %s" % (type(e).__name__, e))
            log("torch_bench: %s: %s" % (label, rec["note"]))
            emit(rec)
            return
        rec["setup_s"] = round(time.perf_counter() - t0, 3)
        try:
            ok, res = check(label, step, rst)
            rec.update(res)
            rec["ok"] = ok
            if not ok:
                failed = True
                rec["note"] = "loss mismatch: not timed"
                emit(rec)
                return
            med, mean, n, wall = time_steps(torch, dev, step, a.warmup, a.steps, a.min_steps,
                                            a.budget)
        except Exception as e:
            rec.update(ok=False, note="%s: %s" % (type(e).__name__, str(e)[:300]))
            log("torch_bench: %s: %s" % (label, rec["note"]))
            emit(rec)
            return
        rec.update(ms_per_step=med, ms_per_step_mean=mean, ms_per_step_wall=wall, steps=n,
                   warmup=a.warmup)
        if flops:
            rec["tflops"] = flops / (med * 1e-3) * 1e-12
        log("torch_bench: %-12s %.4f ms/step (median of %d, mean %.4f)" % (label, med, n, mean))
        emit(rec)

    def need_cuda(label):
        if dev.type != "cuda":
            emit(dict({"contender": "torch-" + label, "ok": False, "skipped": True,
                       "note": "CUDA graphs need a CUDA device"}, **common))
            return False
        return True

    # The eager contender always runs its check first: it is the reference
    # for the loss after one step.
    m = EagerModel(torch, net, dev)
    if "eager" in want:
        run("eager", lambda: eager_step(torch, m, x, y, a.lr, a.momentum, loss_fn=amp(m.loss)))
    else:
        step, rst = eager_step(torch, m, x, y, a.lr, a.momentum, loss_fn=amp(m.loss))
        if not check("eager(ref)", step, rst)[0]:
            failed = True
    if "eager-graph" in want and need_cuda("eager-graph"):
        keep = {}

        def build():
            step, rst, g = graphed_step(torch, m, x, y, a.lr, a.momentum,
                                        loss_fn=amp(m.loss, captured=True))
            keep["g"] = g
            return step, rst

        run("eager-graph", build)
        keep.clear()
    del m
    if dev.type == "cuda":
        torch.cuda.empty_cache()

    lm = LevelModel(torch, net, dev, B)
    log("torch_bench: level-batched: %d levels" % lm.nlevels)
    common["levels"] = lm.nlevels
    if "level" in want:
        run("level", lambda: eager_step(torch, lm, x, y, a.lr, a.momentum,
                                        loss_fn=amp(lm.loss)))
    if "level-graph" in want and need_cuda("level-graph"):
        keep = {}

        def build_l():
            step, rst, g = graphed_step(torch, lm, x, y, a.lr, a.momentum,
                                        loss_fn=amp(lm.loss, captured=True))
            keep["g"] = g
            return step, rst

        run("level-graph", build_l)
        keep.clear()

    if "compile" in want:
        if not hasattr(torch, "compile"):
            emit(dict({"contender": "torch-compile", "ok": False, "skipped": True,
                       "note": "torch %s has no torch.compile" % torch.__version__}, **common))
        else:
            reset(torch, lm)

            def on_alarm(signum, frame):
                raise Timeout("torch.compile took over %g s: skipped" % a.compile_timeout)

            def build_c():
                fn = amp(torch.compile(lm.loss))  # autocast around the compiled call
                step, rst = eager_step(torch, lm, x, y, a.lr, a.momentum, loss_fn=fn)
                old = signal.signal(signal.SIGALRM, on_alarm)
                signal.alarm(max(1, int(a.compile_timeout)))
                try:
                    step()  # compiles forward and backward
                    if dev.type == "cuda":
                        torch.cuda.synchronize()
                finally:
                    signal.alarm(0)
                    signal.signal(signal.SIGALRM, old)
                return step, rst

            run("compile", build_c)
    return 3 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
