#!/bin/bash
# 42nd round call 4: suites on c83 (test_dag_against_rules' growth assertion mended), then run.sh complete (cuda serial, PyTorch)
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/b83 && tar -xzf .carry/c83.tgz -C /tmp/b83
nvidia-smi --query-gpu=name --format=csv,noheader
export LD_LIBRARY_PATH=/tmp/b83/new
D=$OUT/p; mkdir -p $D
GN_GPU_SUITE_LOG=$D/gs GN_GPU_SUITE_TIMEOUT=200 timeout 230 tools/gpu-suite.sh /tmp/b83/new kernel-ops gpu > $D/suites.txt 2>&1; echo "rc $?"; tail -n 4 $D/suites.txt
grep -rh -A2 "RUN.*test_dag_against_rules" $D/gs | head -4
tar -czf $OUT/p.tgz -C $OUT p
LIBDIR=/tmp/b83/new GENET=/tmp/b83/new/genet-rt OUT=$OUT/full BACKENDS="cuda serial" COMPILE="" TIME_BUDGET_S=300 timeout 420 tools/bench/run.sh > $OUT/full-log.txt 2>&1; echo "rc $?"
tail -n 25 $OUT/full-log.txt
tar -czf $OUT/full.tgz -C $OUT full full-log.txt
echo done84
