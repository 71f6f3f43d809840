#!/bin/bash
# 41st round call 4: the release's parts (-DGN_DIAG_RELEASE) on deep, layered, one-group, against head
set -u
exec > >(tee $OUT/log.txt) 2>&1
[ -x /tmp/b76/head/genet-rt ] || { mkdir -p /tmp/b76 && tar -xzf .carry/c76.tgz -C /tmp/b76; }
mkdir -p /tmp/b79 && tar -xzf .carry/c79.tgz -C /tmp/b79
nvidia-smi --query-gpu=name --format=csv,noheader
export LD_LIBRARY_PATH=/tmp/b76/head
PHASES="take finish r_fence r_atom r_acq r_push r_done task_edges task_math" WORKLOADS="deep layered one-group" REPS=2 STEPS=100 WARMUP=10 timeout 240 tools/bench/compare.sh /tmp/b76/head/genet-rt /tmp/b79/rel/genet-rt > $OUT/compare-rel.txt 2>&1; echo "rc $?"
sed -n '/us per worker/,$p' $OUT/compare-rel.txt
echo done79
