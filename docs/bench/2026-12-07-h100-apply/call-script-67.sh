#!/bin/bash
# the 38th round's main / main now (ap4 + bmpf) / t26 (larger stage, update passes in one chunk) / stq (transposed staging conflict-free); FM whole run
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/v67 /tmp/old38 && tar -xzf .carry/v67.tgz -C /tmp/v67 && tar -xzf .carry/old38.tgz -C /tmp/old38
nvidia-smi --query-gpu=name --format=csv,noheader
export LD_LIBRARY_PATH=/tmp/v67/base
D=$OUT/p; mkdir -p $D
echo "== suites"
for v in t26 stq; do echo "-- $v"; GN_GPU_SUITE_TIMEOUT=150 timeout 200 tools/gpu-suite.sh /tmp/v67/$v kernel-ops gpu 2>&1 | tail -n 2; done
BS="/tmp/old38/base/genet-rt /tmp/v67/base/genet-rt /tmp/v67/t26/genet-rt /tmp/v67/stq/genet-rt"
for w in layered many sweep-64-32 one-group; do
  REPS=3 STEPS=200 WORKLOADS=$w timeout 200 tools/bench/compare.sh $BS > $D/compare-$w.txt 2>&1; tail -1 $D/compare-$w.txt
done
REPS=2 STEPS=40 WORKLOADS=deep timeout 200 tools/bench/compare.sh $BS > $D/compare-deep.txt 2>&1; tail -1 $D/compare-deep.txt
for w in layered many deep; do grep -A8 "tasks a step" $D/compare-$w.txt | grep "| $w | b"; grep -A8 "us per worker" $D/compare-$w.txt | grep "| $w | b"; done
REPS=3 STEPS=20 WORKLOADS=one-group timeout 200 tools/bench/compare.sh /tmp/old38/base/genet-rt /tmp/v67/base/genet-rt .carry/fm/usr/share/datasets/fashion-mnist > $D/compare-FM.txt 2>&1; tail -4 $D/compare-FM.txt
tar -czf $OUT/p.tgz -C $OUT p
echo done67
