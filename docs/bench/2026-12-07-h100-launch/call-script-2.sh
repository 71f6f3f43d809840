#!/bin/bash
# the launch fix: wide graphs auto/1/2, the gpu suites; blocks an SM auto / 1 / 2 on every workload and the FM run
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/b71 && tar -xzf .carry/c71.tgz -C /tmp/b71
nvidia-smi --query-gpu=name --format=csv,noheader
export LD_LIBRARY_PATH=/tmp/b71/new
D=$OUT/p; mkdir -p $D
for g in wide-small wide-big; do
  for bps in "" 1 2; do
    echo "== $g blocks-per-sm '${bps}'"
    GN_CUDA_BLOCKS_PER_SM=$bps timeout 60 /tmp/b71/new/genet-rt bench /tmp/b71/$g.json --backend cuda --steps 20 --warmup 5 > $D/wide-$g-$bps.txt 2>&1; echo "rc $?"
    grep -i -E "worker blocks|ms/step|error|cannot|refused" $D/wide-$g-$bps.txt | cut -c1-400 | head -4
  done
done
echo "== suites"
GN_GPU_SUITE_LOG=$D/gs GN_GPU_SUITE_TIMEOUT=300 timeout 400 tools/gpu-suite.sh /tmp/b71/new kernel-ops gpu > $D/suites.txt 2>&1; echo "rc $?"; tail -n 4 $D/suites.txt
grep -rh -E "group size 256" $D/gs | head
echo "== blocks an SM: auto / 1 / 2"
BS="/tmp/b71/new/genet-rt /tmp/b71/w1/genet-rt /tmp/b71/w2/genet-rt"
for w in sweep-64-32 sweep-1024-64 one-group layered many; do
  REPS=3 STEPS=200 WORKLOADS=$w timeout 150 tools/bench/compare.sh $BS > $D/compare-$w.txt 2>&1; tail -1 $D/compare-$w.txt
done
REPS=2 STEPS=40 WORKLOADS=deep timeout 150 tools/bench/compare.sh $BS > $D/compare-deep.txt 2>&1; tail -1 $D/compare-deep.txt
REPS=3 STEPS=20 WORKLOADS=one-group timeout 200 tools/bench/compare.sh $BS .carry/fm/usr/share/datasets/fashion-mnist > $D/compare-FM.txt 2>&1; tail -4 $D/compare-FM.txt
tar -czf $OUT/p.tgz -C $OUT p
echo done71
