#!/bin/bash
# L2 windows (host-only knob GN_CUDA_L2) side by side; the apply's parts on the timeline build
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/c60 && tar -xzf .carry/c60.tgz -C /tmp/c60
nvidia-smi --query-gpu=name --format=csv,noheader
export LD_LIBRARY_PATH=/tmp/c60/new
W=/tmp/w60; D=$OUT/p; mkdir -p $W $D
cat > $W/one-group.json <<'G'
{"format": "genet-graph", "version": 1, "inputs": 784, "classes": 10, "group_size": 32,
 "groups": [{"id": 1, "inputs": [0]}], "output": {"inputs": [1]}}
G
python3 tools/bench/make_graphs.py $W --only layered >/dev/null
for g in layered one-group; do
  for r in 1 2; do
    GN_CUDA_L2=off GN_DIAG_TIMELINE_OUT=$D/tl-$g.$r.csv timeout 60 /tmp/c60/tl/genet-rt bench $W/$g.json --backend cuda --steps 40 --warmup 10 > /dev/null 2>$D/tl-$g.$r.err
  done
  python3 - $D/tl-$g.1.csv $D/tl-$g.2.csv <<'P'
import csv, sys
for f in sys.argv[1:]:
    rows = [r for r in csv.DictReader(open(f)) if r["upd_op"] != "0"]
    n = len(rows)
    if not n: print(f, "no update tasks"); continue
    def m(k): return sum(int(r[k]) for r in rows) / n / 1000
    print(f.split("/")[-1], "updates", n, " ".join("%s %.2f" % (k, m(k)) for k in
          ["ph_edges", "ph_stage", "ph_math", "ph_apply", "ap_search", "ap_load", "ap_rule", "ap_store"]))
P
done
B=/tmp/c60
timeout 30 $B/l2-model bench $W/layered.json --backend cuda --steps 20 --warmup 5 2>&1 >/dev/null | grep -i "L2" | head -3
timeout 30 $B/l2-act bench $W/layered.json --backend cuda --steps 20 --warmup 5 2>&1 >/dev/null | grep -i "L2" | head -3
for w in layered many sweep-64-32 one-group; do
  REPS=3 STEPS=200 WORKLOADS=$w timeout 150 tools/bench/compare.sh $B/base/genet-rt $B/l2-off $B/l2-params $B/l2-model $B/l2-act > $D/compare-$w.txt 2>&1; tail -3 $D/compare-$w.txt
done
REPS=2 STEPS=40 WORKLOADS=deep timeout 150 tools/bench/compare.sh $B/base/genet-rt $B/l2-off $B/l2-params $B/l2-model $B/l2-act > $D/compare-deep.txt 2>&1; tail -3 $D/compare-deep.txt
gzip -f $D/*.csv
tar -czf $OUT/p.tgz -C $OUT p
echo done60
