#!/usr/bin/env python3
"""Growth criteria measured: std against relative, on Fashion-MNIST and on
scikit-learn's small tabular datasets, with scikit-learn's MLPClassifier
on standardized features as the reference for the tabular ones.

    tools/bench/criteria.py GENET_RT [--parts fm,depth,tab,mlp,length] [--seeds 1 2 3]
        [--fashion DIR] [--csv DIR] [--threads N] [--out FILE.md] [--raw FILE.jsonl]

Every genet-rt run is `genet-rt train DATA --backend cpu --json --quiet
--stats-interval 0 --seed S` plus the options of its row (printed in the
tables), one run at a time. Parts:

  fm     Fashion-MNIST, 10 epochs, the default policy (alternate every 100
         steps): std at its default threshold, relative at several ratios,
         growth off;
  depth  Fashion-MNIST, --grow depth for 30 epochs (the chain case);
  tab    wine, breast_cancer, iris, digits (tools/data/sklearn-csv.py,
         70/30 split, seed 1): the default command (when written, 10 epochs
         of batch 256: at most 50 steps, so no growth check; now the default
         length of part length), and a long run that checks often (--batch
         32 --epochs 100 --grow-every 20) with inputs standardized (the
         default) and as written (--normalize none);
  length the same four sets: the default command (its default length: 10
         epochs and at least 500 steps, so 500 steps on each of them)
         against --epochs 10 (the length before that rule: 10 to 100 steps),
         and the rules weighed before it, as the options each gives there
         (docs/CRITERIA.md, "Default length");
  mlp    MLPClassifier(hidden_layer_sizes=H, max_iter=2000, random_state=S)
         on StandardScaler features (fitted on the training rows), H = (32,)
         (one group's width) and (100,) (scikit-learn's default).

Prints markdown tables (mean test accuracy over the seeds, then each seed's
accuracy and hidden groups; a failed run shows its status) and writes them
to --out; every run's JSON goes to --raw. Python standard library, plus
scikit-learn and numpy for mlp.
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TABULAR = ["wine", "breast_cancer", "iris", "digits"]
LONG = ["--batch", "32", "--epochs", "100", "--grow-every", "20"]
THREADS = []  # --threads N: passed to every run (the figures do not depend on it)


def fm_rows():
    rows = [("std 0.004 (default)", []), ("off", ["--grow", "off"])]
    for r in ("1.25", "1.5", "2", "3"):
        rows.append((f"relative {r}", ["--grow-criterion", "relative", "--grow-ratio", r]))
    return rows


def depth_rows():
    d = ["--grow", "depth", "--epochs", "30"]
    rows = [("std 0.004", d)]
    for r in ("1.5", "2"):
        rows.append((f"relative {r}", d + ["--grow-criterion", "relative", "--grow-ratio", r]))
    return rows


def tab_rows():
    rows = [("default command, std", []),
            ("default command, relative 2", ["--grow-criterion", "relative"])]
    for norm in ("standard", "none"):
        n = LONG + ["--normalize", norm]
        rows.append((f"long, {norm}, std 0.004", n))
        rows.append((f"long, {norm}, off", n + ["--grow", "off"]))
        for r in ("1.5", "2", "3"):
            rows.append((f"long, {norm}, relative {r}",
                         n + ["--grow-criterion", "relative", "--grow-ratio", r]))
    return rows


def steps_per_epoch(path, batch):
    """a CSV training set's minibatches of `batch` (a header line allowed)"""
    with open(path) as f:
        rows = [l for l in f if l.strip()]
    if rows and not rows[0].split(",")[0].strip().lstrip("-").isdigit():
        rows = rows[1:]
    return -(-len(rows) // min(batch, len(rows)))


def length_rows(path):
    """the default length and the rules weighed before it, as options: at
    least N steps (N = 200 .. 2000) at batch 128, that with the batch at
    most a K-th of the training set, that with growth checks 10 or 20 to a
    run; every rule spelled out as --epochs (and --batch, --grow-every)"""
    n = steps_per_epoch(path, 1)
    rows = [("default command", []), ("--epochs 10 (the length before the rule)",
                                      ["--epochs", "10"])]

    def at_least(steps, batch=128):
        spe = steps_per_epoch(path, batch)
        return max(10, -(-steps // spe)), spe

    for steps in (200, 300, 400, 500, 600, 750, 1000, 2000):
        e, _ = at_least(steps)
        rows.append((f"at least {steps} steps", ["--epochs", str(e)]))
    for k in (4, 8, 16):
        b = max(1, min(128, n // k))
        for steps in (500, 1000):
            e, _ = at_least(steps, b)
            rows.append((f"batch at most rows/{k}, at least {steps} steps",
                         ["--batch", str(b), "--epochs", str(e)]))
    for steps in (500, 1000):
        e, spe = at_least(steps)
        for checks in (10, 20):
            g = max(1, min(200, e * spe // checks))
            rows.append((f"at least {steps} steps, {checks} growth checks",
                         ["--epochs", str(e), "--grow-every", str(g)]))
    e, _ = at_least(500)
    rows.append(("at least 500 steps, --grow-every 100",
                 ["--epochs", str(e), "--grow-every", "100"]))
    return rows


def train(genet, data, seed, opts, raw):
    cmd = [genet, "train", data, "--backend", "cpu", "--json", "--quiet",
           "--stats-interval", "0", "--seed", str(seed)] + THREADS + opts
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True)
    res = {"cmd": " ".join(cmd[1:]), "data": data, "seed": seed, "wall": time.time() - t0}
    try:
        res.update(json.loads(p.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        res["status"] = "failed: " + (p.stderr.strip().splitlines() or ["?"])[-1]
    raw.write(json.dumps(res) + "\n")
    raw.flush()
    print(f"  {os.path.basename(data)} seed {seed} {' '.join(opts)}: "
          f"{res.get('groups', '-')} groups, test {res.get('test_accuracy', '-')}, "
          f"{res.get('status')}", file=sys.stderr)
    return res


def cell(results):
    """mean accuracy, then per seed 'acc (groups)'; a failed run by status."""
    ok = [r["test_accuracy"] for r in results if r.get("status") == "ok"]
    mean = f"{sum(ok) / len(ok):.4f}" if ok else "-"
    if len(ok) < len(results):
        mean += f" ({len(results) - len(ok)} failed)"
    runs = []
    for r in results:
        if r.get("status") == "ok":
            runs.append(f"{r['test_accuracy']:.4f} ({r['groups']})")
        else:
            st = r.get("status", "?")
            runs.append(f"{st} ({r['groups']})" if "groups" in r else st)
    return mean, ", ".join(runs)


def table(title, rows, datasets, seeds, genet, raw, out):
    lines = [f"### {title}", "",
             "mean test accuracy over seeds " + " ".join(map(str, seeds)) +
             "; then each seed's accuracy (hidden groups at the end)", ""]
    for name, path in datasets:
        lines += [f"**{name}**", "", "| run | options | mean | per seed |",
                  "| --- | --- | ---: | --- |"]
        for label, opts in rows:
            res = [train(genet, path, s, opts, raw) for s in seeds]
            mean, runs = cell(res)
            lines.append(f"| {label} | `{' '.join(opts) or '(defaults)'}` | {mean} | {runs} |")
        lines.append("")
    text = "\n".join(lines)
    print(text)
    out.write(text + "\n")
    out.flush()


def mlp(csv_dir, seeds, out):
    import numpy as np
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    def load(path):
        a = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
        return a[:, 1:], a[:, 0].astype(int)

    lines = ["### scikit-learn MLPClassifier on standardized features", "",
             "`MLPClassifier(hidden_layer_sizes=H, max_iter=2000, random_state=seed)` "
             "(adam, relu, batch min(200, n)) on `StandardScaler` features fitted on the "
             "training rows; seeds " + " ".join(map(str, seeds)), "",
             "| dataset | H | mean | per seed |", "| --- | --- | ---: | --- |"]
    for name in TABULAR:
        xtr, ytr = load(os.path.join(csv_dir, f"{name}_train.csv"))
        xte, yte = load(os.path.join(csv_dir, f"{name}_test.csv"))
        sc = StandardScaler().fit(xtr)
        for h in ((32,), (100,)):
            accs = []
            for s in seeds:
                m = MLPClassifier(hidden_layer_sizes=h, max_iter=2000, random_state=s)
                m.fit(sc.transform(xtr), ytr)
                accs.append(float((m.predict(sc.transform(xte)) == yte).mean()))
            lines.append(f"| {name} | {h} | {sum(accs) / len(accs):.4f} | "
                         + ", ".join(f"{a:.4f}" for a in accs) + " |")
    lines.append("")
    text = "\n".join(lines)
    print(text)
    out.write(text + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("genet", help="the genet-rt binary")
    ap.add_argument("--parts", default="fm,depth,tab,mlp")
    ap.add_argument("--threads", type=int, help="cpu workers of every run (default: cores)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--fashion", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--csv", default="csv", help="directory of NAME_train.csv / NAME_test.csv "
                    "(written with tools/data/sklearn-csv.py where missing)")
    ap.add_argument("--out", default="criteria.md")
    ap.add_argument("--raw", default="criteria.jsonl")
    a = ap.parse_args()
    parts = a.parts.split(",")
    if a.threads:
        THREADS.extend(["--threads", str(a.threads)])
    if "tab" in parts or "mlp" in parts or "length" in parts:
        for name in TABULAR:
            if not os.path.exists(os.path.join(a.csv, f"{name}_train.csv")):
                subprocess.run([sys.executable, os.path.join(ROOT, "tools/data/sklearn-csv.py"),
                                name, a.csv], check=True, stdout=subprocess.DEVNULL)
    with open(a.out, "w") as out, open(a.raw, "w") as raw:
        fm = [("Fashion-MNIST", a.fashion)]
        if "fm" in parts:
            table("Fashion-MNIST, 10 epochs, --grow alternate (default)", fm_rows(), fm,
                  a.seeds, a.genet, raw, out)
        if "depth" in parts:
            table("Fashion-MNIST, --grow depth, 30 epochs", depth_rows(), fm, a.seeds, a.genet,
                  raw, out)
        if "tab" in parts:
            ds = [(n, os.path.join(a.csv, f"{n}_train.csv")) for n in TABULAR]
            table("Tabular (scikit-learn's datasets, 70/30)", tab_rows(), ds, a.seeds, a.genet,
                  raw, out)
        if "length" in parts:
            for n in TABULAR:
                path = os.path.join(a.csv, f"{n}_train.csv")
                table(f"Default length: {n}", length_rows(path), [(n, path)], a.seeds,
                      a.genet, raw, out)
        if "mlp" in parts:
            mlp(a.csv, a.seeds, out)


if __name__ == "__main__":
    main()
