#!/bin/bash
# the update's apply: ap4, tr (transposed through smem, coalesced), tr4, ap4rx against main
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/v61 /tmp/v62 && tar -xzf .carry/v61.tgz -C /tmp/v61 && tar -xzf .carry/v62.tgz -C /tmp/v62
nvidia-smi --query-gpu=name --format=csv,noheader
export LD_LIBRARY_PATH=/tmp/v62/base
D=$OUT/p; mkdir -p $D
echo "== suites"
for v in tr tr4 ap4rx; do echo "-- $v"; GN_GPU_SUITE_TIMEOUT=150 timeout 200 tools/gpu-suite.sh /tmp/v62/$v kernel-ops gpu 2>&1 | tail -n 2; done
B=/tmp/v62
for w in layered many sweep-64-32 one-group; do
  REPS=3 STEPS=200 WORKLOADS=$w timeout 200 tools/bench/compare.sh $B/base/genet-rt /tmp/v61/ap4/genet-rt $B/tr/genet-rt $B/tr4/genet-rt $B/ap4rx/genet-rt > $D/compare-$w.txt 2>&1; tail -1 $D/compare-$w.txt
done
REPS=2 STEPS=40 WORKLOADS=deep timeout 200 tools/bench/compare.sh $B/base/genet-rt /tmp/v61/ap4/genet-rt $B/tr/genet-rt $B/tr4/genet-rt $B/ap4rx/genet-rt > $D/compare-deep.txt 2>&1; tail -1 $D/compare-deep.txt
for w in layered many; do grep -A8 "tasks a step" $D/compare-$w.txt | grep "| $w | b"; done
tar -czf $OUT/p.tgz -C $OUT p
echo done62
