#!/bin/bash
# main (ap4) against ap4k (the optimizer's constants in registers), ap2, bmpf (the backward's mask prefetched into L1)
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/v64 /tmp/v65 && tar -xzf .carry/v64.tgz -C /tmp/v64 && tar -xzf .carry/v65.tgz -C /tmp/v65
nvidia-smi --query-gpu=name --format=csv,noheader
export LD_LIBRARY_PATH=/tmp/v64/base
D=$OUT/p; mkdir -p $D
echo "== suites"
for v in /tmp/v65/bmpf /tmp/v64/ap4k; do echo "-- $v"; GN_GPU_SUITE_TIMEOUT=150 timeout 200 tools/gpu-suite.sh $v kernel-ops gpu 2>&1 | tail -n 2; done
BS="/tmp/v64/base/genet-rt /tmp/v64/ap4k/genet-rt /tmp/v64/ap2/genet-rt /tmp/v65/bmpf/genet-rt"
for w in layered many sweep-64-32 one-group; do
  REPS=3 STEPS=200 WORKLOADS=$w timeout 200 tools/bench/compare.sh $BS > $D/compare-$w.txt 2>&1; tail -1 $D/compare-$w.txt
done
REPS=2 STEPS=40 WORKLOADS=deep timeout 200 tools/bench/compare.sh $BS > $D/compare-deep.txt 2>&1; tail -1 $D/compare-deep.txt
for w in layered many deep; do grep -A8 "tasks a step" $D/compare-$w.txt | grep "| $w | b"; done
tar -czf $OUT/p.tgz -C $OUT p
echo done64
