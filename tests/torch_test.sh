#!/usr/bin/env bash
# tools/genet_torch.py against genet-rt: a small grown network trained on
# synthetic blobs, saved with --save-model, run by `genet-rt predict
# --logits` and by the PyTorch module the loader builds; in its exact mode
# (the default: genet-rt's order of every sum) every logit must agree within
# 1e-5 and be the same float but for rare double-rounding ties, in its fast
# mode (plain matmuls) within 1e-4; the loader's accuracy must equal
# genet-rt eval's.
# Exit 77 (skip) when no python3 can import torch (Debian: python3-torch).
#   torch_test.sh GENET_RT GENET_TORCH_PY
set -euo pipefail
rt=$(realpath "$1") loader=$(realpath "$2")
py=
for cand in python3 /usr/bin/python3; do
    if command -v "$cand" > /dev/null && "$cand" -c "import torch" 2> /dev/null; then
        py=$cand
        break
    fi
done
if [ -z "$py" ]; then
    echo "SKIP: python3 cannot import torch (install python3-torch)"
    exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/gn-torch.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
"$py" - << 'PY'
import random
random.seed(7)
mus = [[random.random() for _ in range(10)] for c in range(3)]
for name, n in (("blobs-train.csv", 600), ("blobs-test.csv", 200)):
    with open(name, "w") as f:
        f.write("label," + ",".join(f"f{k}" for k in range(10)) + "\n")
        for i in range(n):
            c = random.randrange(3)
            f.write(str(c) + "," + ",".join("%.5f" % min(1, max(0, m + random.gauss(0, 0.2)))
                                            for m in mus[c]) + "\n")
PY
"$rt" train blobs-train.csv --backend serial --epochs 4 --group-size 6 --batch 16 \
    --grow alternate --grow-threshold 0.0001 --grow-every 7 --stats-interval 0 --quiet \
    --save-model model.safetensors > train.log
"$rt" predict model.safetensors blobs-test.csv -o logits.csv --logits
"$rt" predict model.safetensors blobs-test.csv -o probs.csv
"$rt" eval model.safetensors blobs-test.csv --json > eval.json
"$py" "$loader" model.safetensors blobs-test.csv > torch.txt
cat train.log eval.json torch.txt
"$py" - "$loader" << 'PY'
import importlib.util, json, sys
import numpy as np, torch
spec = importlib.util.spec_from_file_location("genet_torch", sys.argv[1])
gt = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gt)
net = gt.load("model.safetensors")
x, y = gt.load_dataset("blobs-test.csv")
with torch.no_grad():
    z = net(torch.from_numpy(x)).numpy()
want = np.loadtxt("logits.csv", delimiter=",", skiprows=1)
probs = np.loadtxt("probs.csv", delimiter=",", skiprows=1)
assert want.shape == (len(y), 2 + net.classes), want.shape
assert (want[:, 0] == y).all(), "labels differ"
err = np.abs(z - want[:, 2:]).max()
p = torch.softmax(torch.from_numpy(z).double(), dim=1).numpy()
perr = np.abs(p - probs[:, 2:]).max()
groups = len(json.loads(gt.read_safetensors("model.safetensors")[1]["graph"])["groups"])
print(f"{len(y)} rows, {groups} hidden groups: max |logit diff| {err:.3g}, "
      f"max |prob diff| {perr:.3g}")
same = (z == want[:, 2:].astype(np.float32)).mean()
net.exact = False
with torch.no_grad():
    fast = np.abs(net(torch.from_numpy(x)).numpy() - want[:, 2:]).max()
print(f"exact mode: {same:.2%} of logits the same float; fast mode: max |logit diff| {fast:.3g}")
assert groups > 1, "the network did not grow: the test wants a DAG"
assert err <= 1e-5 and perr <= 1e-5, "torch and genet-rt disagree"
assert same >= 0.999, "exact mode does not follow genet-rt's order"
assert fast <= 1e-4, "fast mode far from genet-rt"
acc = (z.argmax(1) == y).mean()
ev = json.load(open("eval.json"))
assert abs(acc - ev["accuracy"]) < 1e-6, (acc, ev["accuracy"])
PY
echo "OK"
