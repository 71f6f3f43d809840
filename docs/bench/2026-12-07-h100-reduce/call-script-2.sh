#!/bin/bash
# 42nd round call 2: the reduced task DAG, flags by a warp a group after the lists' sorts (the fix of call 1's race).
# Suites on new (test_dag_against_rules new); compare base / new; growth rounds base vs new (width 0 three times each: same bits?)
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/b82 && tar -xzf .carry/c82.tgz -C /tmp/b82
nvidia-smi --query-gpu=name --format=csv,noheader
export LD_LIBRARY_PATH=/tmp/b82/new
D=$OUT/p; mkdir -p $D
echo "== suites new"
GN_GPU_SUITE_LOG=$D/gs GN_GPU_SUITE_TIMEOUT=200 timeout 230 tools/gpu-suite.sh /tmp/b82/new kernel-ops gpu > $D/suites.txt 2>&1; echo "rc $?"; tail -n 4 $D/suites.txt
grep -rh -A3 "test_dag_against_rules" $D/gs | head -8
tar -czf $OUT/p.tgz -C $OUT p
echo "== growth rounds (layered, every 10 steps, 11 rounds)"
python3 tools/bench/make_graphs.py /tmp/g82 --only layered > /dev/null
for P in "width 0 3" "alternate 0 2" "alternate 0.002 2"; do
  set -- $P
  for r in $(seq 1 $3); do
    for b in base new; do
      timeout 60 /tmp/b82/$b/genet-rt bench /tmp/g82/layered.json --backend cuda --steps 100 --warmup 10 --json --grow $1 --grow-every 10 --grow-threshold $2 --max-groups 2100 > $D/grow-$1-$2-$b-$r.json 2>$D/grow-$1-$2-$b-$r.err
      python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print(sys.argv[2], j['groups_end'], 'ms/round %.4f' % (j['growth_ms_total']/max(j['growth_rounds'],1)), 'rounds', j['growth_rounds'], 'loss %.7f' % j['final_loss'], 'ms/step', j['ms_per_step'])" $D/grow-$1-$2-$b-$r.json "$1 $2 $b $r" || tail -2 $D/grow-$1-$2-$b-$r.err
    done
  done
done
tar -czf $OUT/p.tgz -C $OUT p
echo "== compare"
WORKLOADS="deep" REPS=3 STEPS=60 WARMUP=10 timeout 100 tools/bench/compare.sh /tmp/b82/base/genet-rt /tmp/b82/new/genet-rt > $D/compare-deep.txt 2>&1; echo "rc $?"; tail -3 $D/compare-deep.txt
WORKLOADS="layered many sweep-64-32 sweep-1024-64 one-group" REPS=3 STEPS=100 WARMUP=10 timeout 200 tools/bench/compare.sh /tmp/b82/base/genet-rt /tmp/b82/new/genet-rt > $D/compare-rest.txt 2>&1; echo "rc $?"; tail -7 $D/compare-rest.txt
tar -czf $OUT/p.tgz -C $OUT p
echo done82
