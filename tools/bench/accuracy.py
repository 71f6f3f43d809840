#!/usr/bin/env python3
"""Fashion-MNIST accuracy: genet-rt grown vs a traditional MLP (tools/bench/accuracy.sh).

    accuracy.py params GRAPH...
        parameter count of each graph file (weights + biases), one per line
    accuracy.py shape --target P [--layers 2] [--size 32]
        groups per layer of an MLP with LAYERS hidden layers of GROUPS x SIZE
        units whose parameter count is nearest to P; prints "GROUPS UNITS PARAMS"
    accuracy.py torch DATA --units H [--layers 2] --seed N --out FILE [options]
        trains the MLP 784-H-...-H-10 in PyTorch (SGD momentum 0.9, lr 0.05,
        batch 128, weight decay 1e-3 on the weights only, 10 epochs, as
        `genet-rt train`'s defaults), one JSON line per epoch (test
        accuracy) and a summary line to FILE
    accuracy.py report --runs DIR --out DIR
        reads the runs accuracy.sh left in DIR and writes OUT/accuracy.md,
        OUT/accuracy.json and OUT/accuracy.png (if matplotlib imports)

DATA is a directory with the four IDX files of Fashion-MNIST (raw or .gz),
read with gzip and torch.frombuffer, pixels / 255 as genet-rt does, then
standardized per feature as genet-rt's default --normalize standard does
(--normalize none keeps [0, 1]); the rate follows genet-rt's default warmup
and cosine (--warmup, --schedule). The
PyTorch MLP starts like genet-rt's groups (He normal over the fan-in for
ReLU layers, sqrt(1/fan-in) for the linear output, zero biases; --init
torch keeps PyTorch's own nn.Linear initialisation), shuffles with a seeded
permutation each epoch and keeps the last short batch, fp32 with TF32 off.
"""
import argparse
import glob
import gzip
import json
import math
import os
import re
import statistics
import struct
import sys
import time

EPOCH_RE = re.compile(r"^epoch\s+(\d+)\s+step\s+(\d+)\s+loss\s+(\S+)\s+train acc\s+(\S+)\s+"
                      r"test acc\s+(\S+)\s+groups\s+(\d+)")


def graph_params(path):
    with open(path) as f:
        g = json.load(f)
    S, n_in = g["group_size"], g["inputs"]
    width = lambda s: n_in if s == 0 else S  # noqa: E731
    p = sum(S * sum(width(s) for s in gr["inputs"]) + S for gr in g["groups"])
    return p + g["classes"] * (sum(width(s) for s in g["output"]["inputs"]) + 1)


def mlp_params(units, layers, inputs=784, classes=10):
    p, prev = 0, inputs
    for _ in range(layers):
        p += prev * units + units
        prev = units
    return p + prev * classes + classes


def cmd_params(a):
    for g in a.graphs:
        print(graph_params(g))
    return 0


def cmd_shape(a):
    best = min(range(1, 257), key=lambda k: abs(mlp_params(k * a.size, a.layers) - a.target))
    print(best, best * a.size, mlp_params(best * a.size, a.layers))
    return 0


# ---------------------------------------------------------------- PyTorch MLP


def read_idx(torch, path):
    for p in (path, path + ".gz"):
        if os.path.exists(p):
            path = p
            break
    else:
        raise FileNotFoundError(path + "[.gz]")
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        buf = bytearray(f.read())
    zero, dtype, ndim = struct.unpack_from(">HBB", buf, 0)
    if zero != 0 or dtype != 0x08:
        raise ValueError("%s: not an unsigned-byte IDX file" % path)
    dims = struct.unpack_from(">" + "I" * ndim, buf, 4)
    n = 1
    for d in dims:
        n *= d
    off = 4 + 4 * ndim
    if len(buf) != off + n:
        raise ValueError("%s: %d bytes, the header says %d" % (path, len(buf), off + n))
    return torch.frombuffer(buf, dtype=torch.uint8, count=n, offset=off).clone().view(*dims)


def load_fashion(torch, d):
    def images(stem):
        x = read_idx(torch, os.path.join(d, stem))
        return x.view(x.shape[0], -1).float() / 255.0

    def labels(stem):
        return read_idx(torch, os.path.join(d, stem)).long()

    return (images("train-images-idx3-ubyte"), labels("train-labels-idx1-ubyte"),
            images("t10k-images-idx3-ubyte"), labels("t10k-labels-idx1-ubyte"))


def cmd_torch(a):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(a.seed)
    t0 = time.time()
    xtr, ytr, xte, yte = [t.to(dev) for t in load_fashion(torch, a.data)]
    if a.limit_train:
        xtr, ytr = xtr[:a.limit_train], ytr[:a.limit_train]
    if a.normalize == "standard":
        # genet-rt's default (docs/NORMALIZE.md): per feature, the training
        # rows' mean and population deviation; a constant feature keeps
        # scale 1
        mean = xtr.double().mean(0)
        dev_ = xtr.double().std(0, unbiased=False)
        scale = torch.where(dev_ > 0, 1.0 / dev_, torch.ones_like(dev_))
        xtr = ((xtr.double() - mean) * scale).float()
        xte = ((xte.double() - mean) * scale).float()
    layers, prev = [], xtr.shape[1]
    for _ in range(a.layers):
        layers += [nn.Linear(prev, a.units), nn.ReLU()]
        prev = a.units
    layers.append(nn.Linear(prev, 10))
    model = nn.Sequential(*layers).to(dev)
    if a.init == "he":
        with torch.no_grad():
            for m in model:
                if isinstance(m, nn.Linear):
                    gain = 1.0 if m is layers[-1] else 2.0
                    m.weight.normal_(0.0, math.sqrt(gain / m.in_features))
                    m.bias.zero_()
    nparams = sum(p.numel() for p in model.parameters())
    # genet-rt's sgd decays the weights, never the biases, by adding
    # wd * w to the gradient (L2): torch's SGD weight_decay on the weights
    weights = [m.weight for m in model if isinstance(m, nn.Linear)]
    biases = [m.bias for m in model if isinstance(m, nn.Linear)]
    opt = torch.optim.SGD([{"params": weights, "weight_decay": a.weight_decay},
                           {"params": biases, "weight_decay": 0.0}],
                          lr=a.lr, momentum=a.momentum)
    gen = torch.Generator(device="cpu").manual_seed(a.seed)
    n = xtr.shape[0]
    # genet-rt's schedule (runtime/model/optim.h): step s < W runs at
    # lr (s + 1) / W, then a cosine from lr to 0 over the remaining steps
    total = a.epochs * ((n + a.batch - 1) // a.batch)
    W = a.warmup

    def rate(s):
        if s < W:
            return (s + 1) / W
        if a.schedule == "constant":
            return 1.0
        U = max(total - W, 1)
        return 0.5 * (1.0 + math.cos(math.pi * min(s - W, U) / U))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, rate)
    out = open(a.out, "w")

    def emit(rec):
        out.write(json.dumps(rec) + "\n")
        out.flush()
        print(json.dumps(rec), file=sys.stderr, flush=True)

    def test_acc():
        model.eval()
        hits = 0
        with torch.no_grad():
            for i in range(0, xte.shape[0], 4096):
                hits += (model(xte[i:i + 4096]).argmax(1) == yte[i:i + 4096]).sum().item()
        model.train()
        return hits / xte.shape[0]

    step, t1 = 0, time.time()
    for ep in range(1, a.epochs + 1):
        perm = torch.randperm(n, generator=gen).to(dev)
        loss_sum, hits = 0.0, 0
        for i in range(0, n, a.batch):
            idx = perm[i:i + a.batch]
            xb, yb = xtr[idx], ytr[idx]
            opt.zero_grad(set_to_none=True)
            z = model(xb)
            loss = F.cross_entropy(z, yb)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * xb.shape[0]
            hits += (z.argmax(1) == yb).sum().item()
            step += 1
        emit({"epoch": ep, "step": step, "loss": loss_sum / n, "train_acc": hits / n,
              "test_acc": test_acc(), "seconds": time.time() - t1})
    emit({"summary": True, "test_accuracy": test_acc(), "params": nparams, "units": a.units,
          "layers": a.layers, "init": a.init, "seed": a.seed, "device": str(dev),
          "batch": a.batch, "weight_decay": a.weight_decay, "epochs": a.epochs,
          "torch": torch.__version__, "seconds": time.time() - t1,
          "seconds_with_load": time.time() - t0})
    out.close()
    return 0


# ---------------------------------------------------------------- report


def genet_curve(log_path):
    curve = []
    with open(log_path, errors="replace") as f:
        for line in f:
            m = EPOCH_RE.match(line.strip())
            if m and m.group(5) != "n/a":
                curve.append({"epoch": int(m.group(1)), "test_acc": float(m.group(5)),
                              "groups": int(m.group(6))})
    return curve


def last_json(path):
    obj = None
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    try:
                        obj = json.loads(line)
                    except ValueError:
                        pass
    except OSError:
        return None
    return obj


def spread(v):
    if not v:
        return None
    return {"mean": statistics.mean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0,
            "min": min(v), "max": max(v), "n": len(v)}


def cmd_report(a):
    R = a.runs
    meta = {}
    if os.path.exists(os.path.join(R, "meta.json")):
        with open(os.path.join(R, "meta.json")) as f:
            meta = json.load(f)
    arms = [("grown", "(a) genet-rt, grown from one group"),
            ("torch-mlp", "(b) PyTorch MLP"),
            ("genet-mlp", "(c) genet-rt, the same MLP as a graph, growth off")]
    res = {"meta": meta, "arms": {}}
    for key, label in arms:
        runs = []
        for path in sorted(glob.glob(os.path.join(R, key + ".seed*.out"))):
            seed = int(re.search(r"seed(\d+)", path).group(1))
            if key == "torch-mlp":
                curve, summ = [], None
                with open(path) as f:
                    for line in f:
                        if line.strip().startswith("{"):
                            r = json.loads(line)
                            if r.get("summary"):
                                summ = r
                            else:
                                curve.append(r)
                if not summ:
                    runs.append({"seed": seed, "ok": False})
                    continue
                runs.append({"seed": seed, "ok": True, "test_accuracy": summ["test_accuracy"],
                             "params": summ["params"], "seconds": summ["seconds"],
                             "curve": [{"epoch": c["epoch"], "test_acc": c["test_acc"]}
                                       for c in curve], "device": summ["device"]})
            else:
                j = last_json(path)
                curve = genet_curve(path[:-4] + ".err")
                if not j or j.get("status") != "ok":
                    runs.append({"seed": seed, "ok": False, "curve": curve})
                    continue
                params = None
                gpath = path[:-4] + ".graph.json"
                if os.path.exists(gpath):
                    params = graph_params(gpath)
                runs.append({"seed": seed, "ok": True, "test_accuracy": j["test_accuracy"],
                             "params": params, "groups": j["groups"], "seconds": j["seconds"],
                             "backend": j["backend"], "curve": curve})
        ok = [r for r in runs if r["ok"]]
        res["arms"][key] = {
            "label": label, "runs": runs,
            "test_accuracy": spread([r["test_accuracy"] for r in ok]),
            "params": spread([r["params"] for r in ok if r.get("params")]),
            "seconds": spread([r["seconds"] for r in ok]),
        }
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "accuracy.json"), "w") as f:
        json.dump(res, f, indent=1)
    note = plot(res, os.path.join(a.out, "accuracy.png"))
    md = table(res, note)
    with open(os.path.join(a.out, "accuracy.md"), "w") as f:
        f.write(md)
    sys.stdout.write(md)
    return 0


def table(res, note):
    m = res["meta"]
    L = ["# Fashion-MNIST test accuracy: grown genet-rt vs a traditional MLP\n"]
    L.append("- SGD momentum 0.9, lr 0.05 (200-step warmup, cosine), batch %s, weight decay %s, "
             "%s epochs, fp32; seeds %s" %
             (m.get("batch", "?"), m.get("weight_decay", "?"), m.get("epochs", "?"),
              " ".join(str(x) for x in m.get("seeds", [])) or "?"))
    if m.get("grown_opts"):
        L.append("- grown runs' options beyond these: `%s`" % m["grown_opts"])
    if m.get("mlp_units"):
        L.append("- MLP: 784 - %s - 10 (%s hidden layers of %s groups of 32), %s parameters, "
                 "chosen nearest to the grown networks' mean parameter count (%s)" %
                 (" - ".join([str(m["mlp_units"])] * m.get("mlp_layers", 2)),
                  m.get("mlp_layers", 2), m.get("mlp_groups"), m.get("mlp_params"),
                  m.get("grown_params_mean")))
    L.append("- PyTorch MLP initialisation: %s" % m.get("torch_init", "he"))
    if m.get("gpu"):
        L.append("- GPU: %s" % m["gpu"])
    L.append("- accuracy = test accuracy after the last epoch; mean ± sample standard deviation "
             "over seeds, [min, max]\n")
    L.append("| network | test accuracy | [min, max] | per seed | parameters | hidden groups "
             "| train s |")
    L.append("|---|---|---|---|---|---|---|")
    for key, arm in res["arms"].items():
        acc = arm["test_accuracy"]
        ok = [r for r in arm["runs"] if r["ok"]]
        if not acc:
            L.append("| %s | not measured | | | | | |" % arm["label"])
            continue
        per = ", ".join("%d: %.4f" % (r["seed"], r["test_accuracy"]) for r in ok)
        par = arm["params"]
        groups = [r["groups"] for r in ok if r.get("groups") is not None]
        L.append("| %s | %.4f ± %.4f | [%.4f, %.4f] | %s | %s | %s | %.1f |" % (
            arm["label"], acc["mean"], acc["std"], acc["min"], acc["max"], per,
            "%.0f" % par["mean"] if par else "-",
            ("%.1f" % statistics.mean(groups)) if groups else "-",
            arm["seconds"]["mean"]))
        bad = [r["seed"] for r in arm["runs"] if not r["ok"]]
        if bad:
            L.append("| %s: failed seeds %s | | | | | | |" % (arm["label"], bad))
    L.append("")
    L.append("Learning curves (test accuracy per epoch, mean over seeds, band = min..max): "
             "accuracy.png" if not note else note)
    L.append("")
    return "\n".join(L)


def plot(res, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as e:
        return "no plot: matplotlib did not import (%s)" % e
    fig, ax = plt.subplots(figsize=(8, 5))
    for key, arm in res["arms"].items():
        curves = [r["curve"] for r in arm["runs"] if r.get("curve")]
        if not curves:
            continue
        n = min(len(c) for c in curves)
        if n == 0:
            continue
        ep = [curves[0][i]["epoch"] for i in range(n)]
        vals = [[c[i]["test_acc"] for c in curves] for i in range(n)]
        ax.plot(ep, [statistics.mean(v) for v in vals], marker="o", label=arm["label"])
        ax.fill_between(ep, [min(v) for v in vals], [max(v) for v in vals], alpha=0.2)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy")
    ax.set_title("Fashion-MNIST, %d seeds" % max(
        [len(a["runs"]) for a in res["arms"].values()] + [0]))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("params")
    p.add_argument("graphs", nargs="+")
    s = sub.add_parser("shape")
    s.add_argument("--target", type=float, required=True)
    s.add_argument("--layers", type=int, default=2)
    s.add_argument("--size", type=int, default=32)
    t = sub.add_parser("torch")
    t.add_argument("data")
    t.add_argument("--units", type=int, required=True)
    t.add_argument("--layers", type=int, default=2)
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--batch", type=int, default=128)
    t.add_argument("--weight-decay", type=float, default=1e-3)
    t.add_argument("--lr", type=float, default=0.05)
    t.add_argument("--momentum", type=float, default=0.9)
    t.add_argument("--init", choices=["he", "torch"], default="he")
    t.add_argument("--normalize", choices=["standard", "none"], default="standard")
    t.add_argument("--warmup", type=int, default=200)
    t.add_argument("--schedule", choices=["cosine", "constant"], default="cosine")
    t.add_argument("--limit-train", type=int, default=0)
    t.add_argument("--device", default=None)
    t.add_argument("--out", required=True)
    r = sub.add_parser("report")
    r.add_argument("--runs", required=True)
    r.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    return {"params": cmd_params, "shape": cmd_shape, "torch": cmd_torch,
            "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
