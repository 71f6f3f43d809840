#!/bin/bash
# 41st round call 1: HEAD's suites (fall-back case, stream sync), the wide g16 graphs at auto: 39th main vs HEAD
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/b76 && tar -xzf .carry/c76.tgz -C /tmp/b76
nvidia-smi --query-gpu=name --format=csv,noheader
export LD_LIBRARY_PATH=/tmp/b76/head
D=$OUT/p; mkdir -p $D
echo "== suites"
GN_GPU_SUITE_LOG=$D/gs GN_GPU_SUITE_TIMEOUT=300 timeout 330 tools/gpu-suite.sh /tmp/b76/head kernel-ops gpu > $D/suites.txt 2>&1; echo "rc $?"; tail -n 4 $D/suites.txt
grep -rh -E "group size 256|refused|falls back|fall" $D/gs | cut -c1-300 | head
tar -czf $OUT/p.tgz -C $OUT p
echo "== wide g16: base vs head, auto"
REPS=3 STEPS=100 WARMUP=10 WORKLOADS="wide-64-2x16 wide-128-2x16 wide-256-2x16" timeout 200 tools/bench/compare.sh /tmp/b76/base/genet-rt /tmp/b76/head/genet-rt > $D/compare-wide.txt 2>&1; echo "rc $?"; tail -8 $D/compare-wide.txt
tar -czf $OUT/p.tgz -C $OUT p

echo "== timelines of layered at 1 and 2 blocks an SM"
python3 tools/bench/make_graphs.py /tmp/g76 --only layered deep > /dev/null
for bps in 1 2; do
  for r in 1 2; do
    GN_CUDA_BLOCKS_PER_SM=$bps GN_DIAG_TIMELINE_OUT=$D/tl-layered-b$bps-r$r.csv timeout 60 /tmp/b76/tl/genet-rt bench /tmp/g76/layered.json --backend cuda --steps 40 --warmup 10 > $D/tl-layered-b$bps-r$r.txt 2>&1
    echo "bps $bps rep $r rc $? $(grep -o '[0-9.]* ms/step' $D/tl-layered-b$bps-r$r.txt)"
  done
done
GN_DIAG_TIMELINE_OUT=$D/tl-deep.csv timeout 60 /tmp/b76/tl/genet-rt bench /tmp/g76/deep.json --backend cuda --steps 12 --warmup 4 > $D/tl-deep.txt 2>&1; echo "deep rc $? $(grep -o '[0-9.]* ms/step' $D/tl-deep.txt)"
tar -czf $OUT/p.tgz -C $OUT p
echo done76b
