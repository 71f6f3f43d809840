#!/usr/bin/env python3
"""Load a genet-rt model file (safetensors) into PyTorch.

    python3 tools/genet_torch.py MODEL DATASET     # prints the accuracy

    import genet_torch
    net = genet_torch.load("model.safetensors")    # a torch.nn.Module
    logits = net(x)                                # x: (rows, inputs) float32

The module computes what genet-rt computes: the input normalization the
model was trained with (metadata "normalize", tensors input.shift and
input.scale: x' = (x - shift) * scale), then groups in the graph's
topological order, each group its bias plus the sum of its in-edges (in the
graph's order) x @ W, ReLU for hidden groups, the output linear.

Two ways to sum, net.exact (load(path, exact=...), default True):
  exact=True   genet-rt's own order: each output starts at its bias and
               every product joins it in one fused multiply-add, inputs in
               order, edges in order (the product of two floats is exact in
               double, the sum rounds in double and then to float: one
               rounding but in the rare double-rounding tie, one unit in the
               last place). The logits match genet-rt's within 1e-5 on CPU
               and GPU alike; one small op per input column, so slower.
  exact=False  plain float32 matmuls (x @ W, summed), the fast way to run or
               train the network in PyTorch; the library's summation order
               (cuBLAS on a GPU, the CPU BLAS) rounds differently, which on
               a 784-input network moves logits by ~1e-5.
The file is read with struct and json only (no safetensors package).
DATASET is a CSV file (label first, then features; its rows are used) or an
IDX directory (its test set), loaded as genet-rt loads it (features scaled
to [0, 1]).
"""
import gzip
import json
import os
import struct
import sys

import numpy as np


def read_safetensors(path):
    """The tensors (name -> float32 numpy array) and the metadata of a file."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"{path}: too short for a safetensors file")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > len(blob) - 8:
        raise ValueError(f"{path}: header length {n} past the end of the file")
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, t in header.items():
        if t["dtype"] != "F32":
            raise ValueError(f"{path}: tensor {name}: dtype {t['dtype']}, expected F32")
        b, e = t["data_offsets"]
        arr = np.frombuffer(data[b:e], dtype="<f4").astype(np.float32)
        tensors[name] = arr.reshape(t["shape"])
    return tensors, meta


def _fma_chain(z, a, w):
    """z (rows, n) float32 plus a (rows, K) @ w (K, n) as genet-rt sums it:
    for k in order, z = fma(a[:, k], w[k], z), rounded to float each time."""
    a = a.double()
    w = w.double()
    for k in range(a.shape[1]):
        z = (z.double() + a[:, k:k + 1] * w[k:k + 1, :]).float()
    return z


def load(path, exact=True):
    """A torch.nn.Module computing the network of a genet-rt model file
    (exact: genet-rt's order of every sum, see the module's notes)."""
    import torch

    tensors, meta = read_safetensors(path)
    if meta.get("format") != "genet-model" or meta.get("version") != "1":
        raise ValueError(f"{path}: not a genet-rt model file (version 1)")
    norm = meta.get("normalize")
    if norm is not None and norm not in ("standard", "minmax", "scale"):
        raise ValueError(f"{path}: unknown input normalization {norm!r}")
    graph = json.loads(meta["graph"])

    class GenetNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.exact = exact
            self.inputs = int(meta["inputs"])
            self.classes = int(meta["classes"])
            # (name, [source names], hidden?) in topological order
            self.plan = []
            self.params = torch.nn.ParameterDict()
            for g in graph["groups"] + [dict(graph["output"], id="output")]:
                dst = str(g["id"])
                srcs = [str(s) for s in g["inputs"]]
                for s in srcs:
                    w = tensors[f"edge.{s}->{dst}.weight"]
                    self.params[f"w_{s}_{dst}"] = torch.nn.Parameter(torch.from_numpy(w.copy()))
                bias = tensors["output.bias" if dst == "output" else f"group.{dst}.bias"]
                self.params[f"b_{dst}"] = torch.nn.Parameter(torch.from_numpy(bias.copy()))
                self.plan.append((dst, srcs))
            # the input normalization training used: x' = (x - shift) * scale
            self.normalized = norm is not None
            if self.normalized:
                self.register_buffer("shift", torch.from_numpy(tensors["input.shift"].copy()))
                self.register_buffer("scale", torch.from_numpy(tensors["input.scale"].copy()))

        def forward(self, x):
            if self.normalized:
                x = (x - self.shift) * self.scale
            act = {"0": x}
            for dst, srcs in self.plan:
                bias = self.params[f"b_{dst}"]
                if self.exact:
                    z = bias.expand(x.shape[0], -1).to(torch.float32)
                    for s in srcs:
                        z = _fma_chain(z, act[s], self.params[f"w_{s}_{dst}"])
                else:
                    z = None
                    for s in srcs:
                        t = act[s] @ self.params[f"w_{s}_{dst}"]
                        z = t if z is None else z + t
                    z = z + bias
                act[dst] = z if dst == "output" else torch.relu(z)
            return act["output"]

    return GenetNet()


def _idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw[4 + 4 * ndim:], dtype=np.uint8).reshape(dims)


def load_dataset(path):
    """(x, y) as genet-rt eval uses them: an IDX directory's test set, or a
    CSV file's rows (pixel values above 1 mean every feature is /255)."""
    if os.path.isdir(path):
        def find(stem):
            for name in (stem, stem + ".gz"):
                if os.path.exists(os.path.join(path, name)):
                    return os.path.join(path, name)
            raise FileNotFoundError(os.path.join(path, stem))
        images = _idx(find("t10k-images-idx3-ubyte"))
        x = images.reshape(images.shape[0], -1)
        y = _idx(find("t10k-labels-idx1-ubyte"))
        return x.astype(np.float32) / np.float32(255), y.astype(np.int64)
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                rows.append([float(v) for v in line.split(",")])
            except ValueError:
                continue  # the header
    a = np.array(rows, dtype=np.float64)
    y, x = a[:, 0].astype(np.int64), a[:, 1:].astype(np.float32)
    if (x > 1).any():
        x = x / np.float32(255)
    return x.astype(np.float32), y


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    import torch

    net = load(argv[1])
    x, y = load_dataset(argv[2])
    if x.shape[1] != net.inputs:
        print(f"{argv[2]}: {x.shape[1]} features, the network takes {net.inputs}", file=sys.stderr)
        return 1
    with torch.no_grad():
        logits = net(torch.from_numpy(x))
    acc = (logits.argmax(dim=1).numpy() == y).mean()
    print(f"accuracy {acc:.4f} on {len(y)} examples")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
