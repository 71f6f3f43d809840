#!/bin/bash
# t26c (a larger stage, the carveout at its largest) against main; main's timelines (layered, one-group)
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/v68 /tmp/c68 && tar -xzf .carry/v68.tgz -C /tmp/v68 && tar -xzf .carry/c68.tgz -C /tmp/c68
nvidia-smi --query-gpu=name --format=csv,noheader
export LD_LIBRARY_PATH=/tmp/v68/base
D=$OUT/p; W=/tmp/w68; mkdir -p $D $W
cat > $W/one-group.json <<'G'
{"format": "genet-graph", "version": 1, "inputs": 784, "classes": 10, "group_size": 32,
 "groups": [{"id": 1, "inputs": [0]}], "output": {"inputs": [1]}}
G
python3 tools/bench/make_graphs.py $W --only layered >/dev/null
for g in layered one-group; do
  for r in 1 2; do
    GN_DIAG_TIMELINE_OUT=$D/tl-$g.$r.csv timeout 60 /tmp/c68/tl/genet-rt bench $W/$g.json --backend cuda --steps 40 --warmup 10 > /dev/null 2>$D/tl-$g.$r.err
  done
  python3 tools/bench/timeline.py $D/tl-$g.1.csv $D/tl-$g.2.csv > $D/tl-$g.txt 2>&1
  grep -A4 "op's phases, mean" $D/tl-$g.txt | head -5; grep "optimizer apply" $D/tl-$g.txt; tail -3 $D/tl-$g.txt
done
echo "== suites"
GN_GPU_SUITE_TIMEOUT=150 timeout 200 tools/gpu-suite.sh /tmp/v68/t26c kernel-ops gpu 2>&1 | tail -n 2
BS="/tmp/v68/base/genet-rt /tmp/v68/t26c/genet-rt"
for w in layered many sweep-64-32 one-group; do
  REPS=3 STEPS=200 WORKLOADS=$w timeout 200 tools/bench/compare.sh $BS > $D/compare-$w.txt 2>&1; tail -1 $D/compare-$w.txt
done
REPS=2 STEPS=40 WORKLOADS=deep timeout 200 tools/bench/compare.sh $BS > $D/compare-deep.txt 2>&1; tail -1 $D/compare-deep.txt
for w in layered many; do grep -A8 "tasks a step" $D/compare-$w.txt | grep "| $w | "; grep -A8 "us per worker" $D/compare-$w.txt | grep "| $w | "; done
gzip -f $D/*.csv
tar -czf $OUT/p.tgz -C $OUT p
echo done68
