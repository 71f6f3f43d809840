#!/bin/bash
# the update's apply: variants ap4 (runs of 4) and rowix (offsets once a tile row); timeline with the apply split
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/v61 /tmp/c61 && tar -xzf .carry/v61.tgz -C /tmp/v61 && tar -xzf .carry/c61.tgz -C /tmp/c61
nvidia-smi --query-gpu=name --format=csv,noheader
export LD_LIBRARY_PATH=/tmp/v61/base
W=/tmp/w61; D=$OUT/p; mkdir -p $W $D
cat > $W/one-group.json <<'G'
{"format": "genet-graph", "version": 1, "inputs": 784, "classes": 10, "group_size": 32,
 "groups": [{"id": 1, "inputs": [0]}], "output": {"inputs": [1]}}
G
python3 tools/bench/make_graphs.py $W --only layered >/dev/null
for g in layered one-group; do
  for r in 1 2; do
    GN_DIAG_TIMELINE_OUT=$D/tl-$g.$r.csv timeout 60 /tmp/c61/tl/genet-rt bench $W/$g.json --backend cuda --steps 40 --warmup 10 > /dev/null 2>$D/tl-$g.$r.err
  done
  python3 tools/bench/timeline.py $D/tl-$g.1.csv $D/tl-$g.2.csv > $D/tl-$g.txt 2>&1
  grep -A4 "op's phases, mean" $D/tl-$g.txt; grep "optimizer apply" $D/tl-$g.txt
done
B=/tmp/v61
for w in layered many sweep-64-32 one-group; do
  REPS=3 STEPS=200 WORKLOADS=$w timeout 150 tools/bench/compare.sh $B/base/genet-rt $B/ap4/genet-rt $B/rowix/genet-rt > $D/compare-$w.txt 2>&1; tail -1 $D/compare-$w.txt
done
REPS=2 STEPS=40 WORKLOADS=deep timeout 150 tools/bench/compare.sh $B/base/genet-rt $B/ap4/genet-rt $B/rowix/genet-rt > $D/compare-deep.txt 2>&1; tail -1 $D/compare-deep.txt
grep -B3 -A12 "tasks a step" $D/compare-layered.txt | grep "layered"
echo "== suites: ap4"
GN_GPU_SUITE_TIMEOUT=150 timeout 200 tools/gpu-suite.sh /tmp/v61/ap4 kernel-ops gpu 2>&1 | tail -n 4
gzip -f $D/*.csv
tar -czf $OUT/p.tgz -C $OUT p
echo done61
