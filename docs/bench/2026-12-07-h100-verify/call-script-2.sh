#!/bin/bash
# 41st round call 2: run.sh complete on HEAD's kernels (cuda serial, PyTorch), the README's tables
set -u
exec > >(tee $OUT/log.txt) 2>&1
[ -x /tmp/b76/head/genet-rt ] || { mkdir -p /tmp/b76 && tar -xzf .carry/c76.tgz -C /tmp/b76; }
nvidia-smi --query-gpu=name --format=csv,noheader
LIBDIR=/tmp/b76/head GENET=/tmp/b76/head/genet-rt OUT=$OUT/full BACKENDS="cuda serial" COMPILE="" TIME_BUDGET_S=300 timeout 420 tools/bench/run.sh > $OUT/full-log.txt 2>&1; echo "rc $?"
tail -n 25 $OUT/full-log.txt
tar -czf $OUT/full.tgz -C $OUT full full-log.txt
echo done77
