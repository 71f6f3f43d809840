#!/bin/bash
# 41st round call 5: GN_DAG_DEFER=4 / 8 (a sole successor runs at once, the others' decrements held back): suites on d4, compare head / d4 / d8
set -u
exec > >(tee $OUT/log.txt) 2>&1
[ -x /tmp/b76/head/genet-rt ] || { mkdir -p /tmp/b76 && tar -xzf .carry/c76.tgz -C /tmp/b76; }
mkdir -p /tmp/b80 && tar -xzf .carry/c80.tgz -C /tmp/b80
nvidia-smi --query-gpu=name --format=csv,noheader
export LD_LIBRARY_PATH=/tmp/b76/head
echo "== compare"
WORKLOADS="deep" REPS=2 STEPS=60 WARMUP=10 timeout 120 tools/bench/compare.sh /tmp/b76/head/genet-rt /tmp/b80/d4/genet-rt /tmp/b80/d8/genet-rt > $OUT/compare-deep.txt 2>&1; echo "rc $?"; tail -3 $OUT/compare-deep.txt
WORKLOADS="layered many sweep-64-32 one-group" REPS=2 STEPS=100 WARMUP=10 timeout 150 tools/bench/compare.sh /tmp/b76/head/genet-rt /tmp/b80/d4/genet-rt /tmp/b80/d8/genet-rt > $OUT/compare-rest.txt 2>&1; echo "rc $?"; tail -6 $OUT/compare-rest.txt
echo "== suites d4"
GN_GPU_SUITE_LOG=$OUT/gs GN_GPU_SUITE_TIMEOUT=120 timeout 150 tools/gpu-suite.sh /tmp/b80/d4 kernel-ops gpu > $OUT/suites.txt 2>&1; echo "rc $?"; tail -n 4 $OUT/suites.txt
echo done80
