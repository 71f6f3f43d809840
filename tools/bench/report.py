#!/usr/bin/env python3
"""Plan and report for tools/bench/run.sh (standard library; matplotlib if present).

    report.py plan MANIFEST [--quick]
        one line per workload: name file gflop serial_warmup serial_steps
        cpu_warmup cpu_steps (the time box of the slow backends)

    report.py report --raw DIR --manifest MANIFEST --out DIR [--gpu NAME]
                     [--peak-tflops X] [--handoff-us X] [--elapsed S] [--note TEXT ...]
        reads the raw outputs run.sh left in DIR and writes OUT/results.json,
        OUT/table.md and OUT/speed.png (when matplotlib imports), then prints
        table.md on stdout.

Raw outputs, per workload NAME: NAME.KEY.out (stdout: the JSON object of
`genet-rt bench --json`, or one JSON line per contender from torch_bench.py),
NAME.KEY.err (stderr), NAME.KEY.rc (exit status, 124 = timed out) and
NAME.KEY.skip (why a run was not started). KEY is genet-cuda, genet-cpu,
genet-serial, torch or torch-compile; the growth pair is growth.off and
growth.on.

The floor of a step is max(compute, memory, dependency):
  compute    = FLOPs of the step / the card's fp32 peak
  memory     = the bytes a step moves if every tensor crosses memory once
               (make_graphs.py's bytes_of: parameters, momentum, gradients, each
               group's activations and errors, the input batch) / the
               card's memory bandwidth; where a manifest has no bytes, none
  dependency = 2 x depth x HANDOFF_US: the forward chain from the input to
               the output and the backward chain back, one inter-SM hand-off
               per edge of the longest path each way.
"""
import argparse
import datetime
import json
import math
import os
import sys

CONTENDERS = [
    ("genet-cuda", "genet-rt cuda"),
    ("genet-cpu", "genet-rt cpu"),
    ("genet-serial", "genet-rt serial"),
    ("torch-eager", "PyTorch eager"),
    ("torch-eager-graph", "eager + CUDA graph"),
    ("torch-level", "level-batched"),
    ("torch-level-graph", "level-batched + CUDA graph"),
    ("torch-compile", "torch.compile (level-batched)"),
]
LABEL = dict(CONTENDERS)

# Per card name (the first key the name contains): the fp32 (non-tensor-core)
# peak in TFLOP/s and the memory bandwidth in TB/s, each with its source
CARDS = [
    ("H200", 67.0, "H200 (GH100, same chip as H100 SXM): 67 TFLOP/s fp32",
     4.8, "H200: 4.8 TB/s HBM3e"),
    ("H100 PCIE", 51.0, "H100 PCIe: 51 TFLOP/s fp32", 2.0, "H100 PCIe: 2.0 TB/s"),
    ("H100 NVL", 60.0, "H100 NVL: 60 TFLOP/s fp32", 3.9, "H100 NVL: 3.9 TB/s"),
    ("H100", 67.0, "H100 SXM: 67 TFLOP/s fp32", 3.35, "H100 SXM: 3.35 TB/s HBM3"),
    ("A100", 19.5, "A100: 19.5 TFLOP/s fp32", 2.0, "A100 80GB: 2.0 TB/s"),
]


def card_for(gpu):
    """(peak TFLOP/s, its source, bandwidth TB/s, its source) for a card name;
    an unknown card is taken for an H100 SXM, and the sources say so."""
    up = (gpu or "").upper()
    for key, tf, tf_why, tb, tb_why in CARDS:
        if key in up:
            return tf, tf_why, tb, tb_why
    unknown = "card %r unknown: assumed " % (gpu or "none")
    return 67.0, unknown + "67 TFLOP/s fp32 (H100 SXM)", 3.35, unknown + "3.35 TB/s (H100 SXM)"


# ---------------------------------------------------------------- plan


def clamp(v, lo, hi):
    return max(lo, min(hi, v))


def cmd_plan(a):
    with open(a.manifest) as f:
        man = json.load(f)
    for w in man:
        gf = w["flops_per_step_b256"] / 1e9
        if a.quick:
            sw, ss, cw, cs = 1, 3, 1, 3
        else:
            # about 24 GFLOP of timed serial work (1 to 10 steps) and 120
            # GFLOP of cpu work (2 to 20 steps) per workload
            sw, ss = 1, clamp(int(24 / gf), 1, 10)
            cw, cs = 1, clamp(int(120 / gf), 2, 20)
        print("%s %s %.3f %d %d %d %d" % (w["name"], w["file"], gf, sw, ss, cw, cs))
    return 0


# ---------------------------------------------------------------- report


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def json_lines(text):
    out = []
    for line in (text or "").splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def last_line(text):
    lines = [l for l in (text or "").strip().splitlines() if l.strip()]
    return lines[-1].strip()[:200] if lines else ""


def genet_run(raw, name, key):
    """A genet-rt bench run: its JSON object, or why there is none."""
    base = os.path.join(raw, "%s.%s" % (name, key))
    skip = read(base + ".skip")
    if skip is not None:
        return {"ok": False, "skipped": True, "note": skip.strip()}
    out = read(base + ".out")
    if out is None:
        return None
    rc = (read(base + ".rc") or "").strip()
    objs = json_lines(out)
    if objs and rc == "0":
        r = objs[-1]
        r["ok"] = True
        return r
    err = last_line(read(base + ".err"))
    if rc == "124":
        note = "timed out" + (": " + err if err else "")
    else:
        note = "failed (exit %s)%s" % (rc or "?", ": " + err if err else "")
    return {"ok": False, "note": note}


def torch_runs(raw, name, key):
    base = os.path.join(raw, "%s.%s" % (name, key))
    skip = read(base + ".skip")
    res = {}
    if skip is not None:
        return res, skip.strip()
    out = read(base + ".out")
    if out is None:
        return res, None
    for r in json_lines(out):
        if "contender" in r:
            res[r["contender"]] = r
    rc = (read(base + ".rc") or "").strip()
    note = None
    if rc not in ("0", "3"):
        err = last_line(read(base + ".err"))
        note = ("timed out" if rc == "124" else "failed (exit %s)" % rc) + \
            (": " + err if err else "")
    return res, note


def fmt_ms(v):
    if v is None:
        return "-"
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    if v >= 1:
        return "%.2f" % v
    return "%.3f" % v


def cell_ms(r, show_steps=False):
    if not r:
        return "-"
    if not r.get("ok"):
        return "n/a"
    s = fmt_ms(r.get("ms_per_step"))
    if show_steps:
        s += " (n=%d)" % r.get("steps", 0)
    return s


def cmd_report(a):
    with open(a.manifest) as f:
        man = json.load(f)
    peak, peak_why, bw, bw_why = card_for(a.gpu)
    if a.peak_tflops:
        peak, peak_why = a.peak_tflops, "given: %g TFLOP/s fp32" % a.peak_tflops
    res = {"generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "gpu": a.gpu or None, "peak_tflops_fp32": peak, "peak_source": peak_why,
           "bandwidth_tbs": bw, "bandwidth_source": bw_why,
           "handoff_us": a.handoff_us, "batch": 256, "elapsed_s": a.elapsed,
           "notes": a.note or [], "workloads": []}
    problems = []
    for w in man:
        name = w["name"]
        runs = {}
        for key in ("genet-cuda", "genet-cpu", "genet-serial"):
            r = genet_run(a.raw, name, key)
            if r is not None:
                runs[key] = r
        for key in ("torch", "torch-compile"):
            tr, note = torch_runs(a.raw, name, key)
            runs.update(tr)
            if note:
                want = ["torch-compile"] if key == "torch-compile" else \
                    [c for c, _ in CONTENDERS if c.startswith("torch-") and c != "torch-compile"]
                for c in want:
                    runs.setdefault(c, {"ok": False, "skipped": True, "note": note})
        ref = next((runs[k] for k in ("genet-cuda", "genet-serial", "genet-cpu")
                    if runs.get(k, {}).get("ok")), None)
        depth = ref["depth"] if ref else None
        flops = ref["flops_per_step"] if ref else w["flops_per_step_b256"]
        comp = flops / (peak * 1e12) * 1e3
        dep = 2 * depth * a.handoff_us * 1e-3 if depth is not None else None
        nbytes = w.get("bytes_per_step_b256")
        mem = nbytes / (bw * 1e12) * 1e3 if nbytes else None
        floor = {"compute_ms": comp, "memory_ms": mem, "dependency_ms": dep,
                 "step_depth": 2 * depth if depth else None,
                 "ms": max(v for v in (comp, mem, dep) if v is not None)}
        for k, r in runs.items():
            if r.get("ok") and r.get("ms_per_step") and "tflops" not in r:
                r["tflops"] = flops / (r["ms_per_step"] * 1e-3) * 1e-12
            if k.startswith("torch-") and r.get("ok") is False and not r.get("skipped"):
                problems.append("%s %s: %s" % (name, k, r.get("note", "failed")))
        res["workloads"].append({
            "name": name, "graph": w["file"], "groups": w["groups"], "size": w["size"],
            "levels": w["levels"], "edges": w["edges"], "depth": depth,
            "flops_per_step": flops, "bytes_per_step": nbytes, "floor": floor, "runs": runs})
    growth = {}
    for k in ("off", "on"):
        r = genet_run(a.raw, "growth", k)
        if r is not None:
            growth[k] = r
    res["growth"] = growth
    res["growth_setup"] = a.growth
    # the arithmetic, from the runs' JSON ("precision"; fp32 where no run says)
    precs = sorted(set(r["precision"] for w in res["workloads"] for r in w["runs"].values()
                       if r.get("precision")))
    if len(precs) > 1:
        res["precision"] = "mixed (%s)" % ", ".join(precs)
    else:
        res["precision"] = precs[0] if precs else "fp32"
    res["problems"] = problems

    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "results.json.tmp"), "w") as f:
        json.dump(res, f, indent=1)
    os.replace(os.path.join(a.out, "results.json.tmp"), os.path.join(a.out, "results.json"))
    plot_note = plot(res, os.path.join(a.out, "speed.png"))
    md = table(res, plot_note)
    with open(os.path.join(a.out, "table.md"), "w") as f:
        f.write(md)
    sys.stdout.write(md)
    return 0


def table(res, plot_note):
    W = res["workloads"]
    L = []
    L.append("# genet-rt training-step benchmark\n")
    L.append("- GPU: %s; fp32 peak used for the floor: %s" %
             (res["gpu"] or "none found", res["peak_source"]))
    if res.get("bandwidth_source"):
        L.append("- memory bandwidth used for the floor: %s" % res["bandwidth_source"])
    L.append("- inter-SM hand-off used for the floor: %g µs (HANDOFF_US)" % res["handoff_us"])
    prec = res.get("precision", "fp32")
    arith = {"fp32": "fp32 (PyTorch with TF32 off)",
             "tf32": "tf32: the products on the tensor cores, fp32 sums and parameters "
                     "(PyTorch with TF32 on)",
             "bf16": "bf16: the products on the tensor cores, fp32 sums and parameters "
                     "(PyTorch: autocast to bfloat16)"}.get(
                         prec, "precision %s: see each run's in results.json" % prec)
    L.append("- batch 256, %s; one step = forward, backward, SGD "
             "(momentum 0.9, lr 0.01); times are medians per step after warm-up" % arith)
    if prec != "fp32":
        L.append("- the floor's compute part uses the fp32 peak: below fp32 (tensor cores) "
                 "it is no lower bound")
    L.append("- floor = max(FLOPs / peak, bytes / bandwidth, 2 x depth x hand-off); bytes: "
             "every tensor of a step crossing memory once (make_graphs.py, bytes_of); "
             "`depth` = longest path input -> output in edges")
    torch_v = next((r.get("torch") for w in W for r in w["runs"].values() if r.get("torch")),
                   None)
    dev = next((r.get("device") for w in W for r in w["runs"].values() if r.get("device")),
               None)
    if torch_v:
        L.append("- PyTorch %s on %s" % (torch_v, dev))
    L.append("- generated %s%s" % (res["generated"], ", whole run %.0f s" % res["elapsed_s"]
                                    if res.get("elapsed_s") else ""))
    for n in res.get("notes", []):
        L.append("- " + n)
    L.append("")

    cols = [c for c, _ in CONTENDERS if any(c in w["runs"] for w in W)]
    L.append("## ms per step (median; n = timed steps where the run was time-boxed)\n")
    hdr = ["workload", "groups x size", "depth", "GFLOP/step", "MB/step",
           "floor ms (compute / memory / dep.)"] + \
        [LABEL[c] for c in cols] + ["cuda / floor"]
    L.append("| " + " | ".join(hdr) + " |")
    L.append("|" + "---|" * len(hdr))
    for w in W:
        fl = w["floor"]
        row = [w["name"], "%d x %d" % (w["groups"], w["size"]),
               str(w["depth"]) if w["depth"] is not None else "-",
               "%.2f" % (w["flops_per_step"] / 1e9),
               "%.0f" % (w["bytes_per_step"] / 1e6) if w.get("bytes_per_step") else "-",
               "%s (%s / %s / %s)" % (fmt_ms(fl["ms"]), fmt_ms(fl["compute_ms"]),
                                      fmt_ms(fl.get("memory_ms")), fmt_ms(fl["dependency_ms"]))]
        for c in cols:
            row.append(cell_ms(w["runs"].get(c), show_steps=c in ("genet-cpu", "genet-serial")))
        cu = w["runs"].get("genet-cuda")
        row.append("%.1fx" % (cu["ms_per_step"] / fl["ms"]) if cu and cu.get("ok") else "-")
        L.append("| " + " | ".join(row) + " |")
    L.append("")

    L.append("## achieved TFLOP/s (%s)\n" % prec)
    hdr = ["workload"] + [LABEL[c] for c in cols]
    L.append("| " + " | ".join(hdr) + " |")
    L.append("|" + "---|" * len(hdr))
    for w in W:
        row = [w["name"]]
        for c in cols:
            r = w["runs"].get(c)
            row.append("%.3f" % r["tflops"] if r and r.get("ok") and "tflops" in r else "-")
        L.append("| " + " | ".join(row) + " |")
    L.append("")

    others = [c for c in cols if c != "genet-cuda"]
    L.append("## speed-up of genet-rt cuda over each contender (their ms / cuda ms)\n")
    hdr = ["workload"] + [LABEL[c] for c in others]
    L.append("| " + " | ".join(hdr) + " |")
    L.append("|" + "---|" * len(hdr))
    for w in W:
        cu = w["runs"].get("genet-cuda")
        row = [w["name"]]
        for c in others:
            r = w["runs"].get(c)
            if cu and cu.get("ok") and r and r.get("ok"):
                row.append("%.2fx" % (r["ms_per_step"] / cu["ms_per_step"]))
            else:
                row.append("-")
        L.append("| " + " | ".join(row) + " |")
    L.append("")

    g = res.get("growth", {})
    if g:
        L.append("## growth on vs off\n")
        if res.get("growth_setup"):
            L.append(res["growth_setup"] + "\n")
        L.append("| growth | ms/step median | ms/step mean | groups start -> end | steps | note |")
        L.append("|---|---|---|---|---|---|")
        for k in ("off", "on"):
            r = g.get(k)
            if not r:
                continue
            if r.get("ok"):
                L.append("| %s | %s | %s | %d -> %d | %d | |" % (
                    k, fmt_ms(r["ms_per_step"]), fmt_ms(r["ms_per_step_mean"]), r["groups"],
                    r.get("groups_end", r["groups"]), r["steps"]))
            else:
                L.append("| %s | n/a | n/a | - | - | %s |" % (k, r.get("note", "")))
        if g.get("on", {}).get("ok") and g.get("off", {}).get("ok"):
            L.append("\ngrowth on costs %.2fx the median step and %.2fx the mean step."
                     % (g["on"]["ms_per_step"] / g["off"]["ms_per_step"],
                        g["on"]["ms_per_step_mean"] / g["off"]["ms_per_step_mean"]))
        L.append("")

    # runs without a figure, one line per reason and contender
    why = {}
    for w in W:
        for c in cols:
            r = w["runs"].get(c)
            if r and not r.get("ok"):
                why.setdefault((r.get("note", "no result"), c), []).append(w["name"])
    notes = []
    for (note, c), names in why.items():
        where = "all workloads" if len(names) == len(W) and len(W) > 1 else ", ".join(names)
        notes.append("%s (%s): %s" % (LABEL[c], where, note))
    if res.get("problems"):
        notes.append("**correctness check failed**: " + "; ".join(res["problems"]))
    if plot_note:
        notes.append(plot_note)
    if notes:
        L.append("## notes\n")
        for n in notes:
            L.append("- " + n)
        L.append("")
    return "\n".join(L)


def plot(res, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as e:  # matplotlib absent or broken: the table still stands
        return "no plot: matplotlib did not import (%s)" % e
    W = res["workloads"]
    main = [w for w in W if not w["name"].startswith("sweep-")]
    sweep = [w for w in W if w["name"].startswith("sweep-")]
    cols = [c for c, _ in CONTENDERS if any(w["runs"].get(c, {}).get("ok") for w in W)]
    fig, axes = plt.subplots(1, 2 if sweep and main else 1, figsize=(15, 6), squeeze=False)
    ax = axes[0][0]
    panels = [(ax, main or sweep, "workloads")]
    if sweep and main:
        panels.append((axes[0][1], sweep, "sweep (groups-size)"))
    for ax, ws, title in panels:
        nb = len(cols) + 1
        width = 0.8 / nb
        for j, c in enumerate(cols):
            xs, ys = [], []
            for i, w in enumerate(ws):
                r = w["runs"].get(c)
                if r and r.get("ok"):
                    xs.append(i + (j - nb / 2) * width + width / 2)
                    ys.append(r["ms_per_step"])
            ax.bar(xs, ys, width, label=LABEL[c])
        xs = [i + (len(cols) - nb / 2) * width + width / 2 for i in range(len(ws))]
        ax.bar(xs, [w["floor"]["ms"] for w in ws], width, color="black", label="floor")
        ax.set_yscale("log")
        ax.set_xticks(range(len(ws)))
        ax.set_xticklabels([w["name"].replace("sweep-", "") for w in ws], rotation=20)
        ax.set_ylabel("ms per training step (log)")
        ax.set_title(title)
        ax.grid(axis="y", which="both", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle("genet-rt vs PyTorch, batch 256, %s - %s" % (res.get("precision", "fp32"),
                                                              res["gpu"] or "no GPU"))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("plan")
    p.add_argument("manifest")
    p.add_argument("--quick", action="store_true")
    r = sub.add_parser("report")
    r.add_argument("--raw", required=True)
    r.add_argument("--manifest", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--gpu", default="")
    r.add_argument("--peak-tflops", type=float, default=0.0)
    r.add_argument("--handoff-us", type=float, default=0.23)
    r.add_argument("--elapsed", type=float, default=None)
    r.add_argument("--note", action="append")
    r.add_argument("--growth", default="", help="what the growth pair ran")
    a = ap.parse_args(argv)
    return cmd_plan(a) if a.cmd == "plan" else cmd_report(a)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
