#!/bin/bash
# 42nd round call 1: the reduced task DAG (9d81209). Suites on new; compare
# base (d8be7cf's kernels: c76 head) / new / new + GN_DAG_DEFER=4; growth rounds base vs new
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/b81 && tar -xzf .carry/c81.tgz -C /tmp/b81
nvidia-smi --query-gpu=name --format=csv,noheader
export LD_LIBRARY_PATH=/tmp/b81/new
D=$OUT/p; mkdir -p $D
echo "== suites new"
GN_GPU_SUITE_LOG=$D/gs GN_GPU_SUITE_TIMEOUT=200 timeout 230 tools/gpu-suite.sh /tmp/b81/new kernel-ops gpu > $D/suites.txt 2>&1; echo "rc $?"; tail -n 4 $D/suites.txt
tar -czf $OUT/p.tgz -C $OUT p
echo "== compare deep: b0 base, b1 new, b2 new+defer4"
WORKLOADS="deep" REPS=3 STEPS=60 WARMUP=10 timeout 150 tools/bench/compare.sh /tmp/b81/base/genet-rt /tmp/b81/new/genet-rt /tmp/b81/defer/genet-rt > $D/compare-deep.txt 2>&1; echo "rc $?"; tail -3 $D/compare-deep.txt
tar -czf $OUT/p.tgz -C $OUT p
echo "== compare rest"
WORKLOADS="layered many sweep-64-32 one-group" REPS=3 STEPS=100 WARMUP=10 timeout 200 tools/bench/compare.sh /tmp/b81/base/genet-rt /tmp/b81/new/genet-rt /tmp/b81/defer/genet-rt > $D/compare-rest.txt 2>&1; echo "rc $?"; tail -6 $D/compare-rest.txt
tar -czf $OUT/p.tgz -C $OUT p
echo "== growth rounds (layered, every 10 steps, 11 rounds)"
python3 tools/bench/make_graphs.py /tmp/g81 --only layered > /dev/null
for P in "alternate 0" "width 0" "alternate 0.002"; do
  set -- $P
  for r in 1 2; do
    for b in base new; do
      timeout 60 /tmp/b81/$b/genet-rt bench /tmp/g81/layered.json --backend cuda --steps 100 --warmup 10 --json --grow $1 --grow-every 10 --grow-threshold $2 --max-groups 2100 > $D/grow-$1-$2-$b-$r.json 2>$D/grow-$1-$2-$b-$r.err
      python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print(sys.argv[2], j['groups_end'], 'ms/round %.4f' % (j['growth_ms_total']/max(j['growth_rounds'],1)), 'rounds', j['growth_rounds'], 'loss %.7f' % j['final_loss'], 'ms/step', j['ms_per_step'])" $D/grow-$1-$2-$b-$r.json "$1 $2 $b $r" || tail -2 $D/grow-$1-$2-$b-$r.err
    done
  done
done
tar -czf $OUT/p.tgz -C $OUT p
echo done81
