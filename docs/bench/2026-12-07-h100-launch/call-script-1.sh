#!/bin/bash
# wide groups: old main (no fallback) and new (fallback) at blocks-per-sm unset/1/2; the gpu suites on new; layered/many at 1 vs 2 blocks an SM
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/v68 /tmp/b70 && tar -xzf .carry/v68.tgz -C /tmp/v68 ./base && tar -xzf .carry/c70.tgz -C /tmp/b70
nvidia-smi --query-gpu=name --format=csv,noheader
export LD_LIBRARY_PATH=/tmp/b70/new
D=$OUT/p; mkdir -p $D
for b in /tmp/v68/base /tmp/b70/new; do
 for g in wide-small wide-big; do
  for bps in "" 1 2; do
    echo "== $b $g blocks-per-sm '${bps}'"
    GN_CUDA_BLOCKS_PER_SM=$bps timeout 60 $b/genet-rt bench /tmp/b70/$g.json --backend cuda --steps 20 --warmup 5 > $D/wide-$(basename $b)-$g-$bps.txt 2>&1; echo "rc $?"
    grep -i -E "worker blocks|ms per step|ms/step|median|error|cannot|refused|launch" $D/wide-$(basename $b)-$g-$bps.txt | head -5
  done
 done
done
echo "== suites"
GN_GPU_SUITE_LOG=$D/gs GN_GPU_SUITE_TIMEOUT=300 timeout 400 tools/gpu-suite.sh /tmp/b70/new kernel-ops gpu > $D/suites.txt 2>&1; echo "rc $?"; tail -n 4 $D/suites.txt
grep -rh -E "group size 256|parameters .with both" $D/gs | head
echo "== blocks an SM: auto / 1 / 2"
for w in layered many; do
  REPS=3 STEPS=200 WORKLOADS=$w timeout 150 tools/bench/compare.sh /tmp/b70/new/genet-rt /tmp/b70/w1/genet-rt /tmp/b70/w2/genet-rt > $D/compare-$w.txt 2>&1; tail -1 $D/compare-$w.txt
done
tar -czf $OUT/p.tgz -C $OUT p
echo done70
