#!/bin/bash
# 42nd round call 5: suites on c84 new (flags from the lists' tails), growth rounds base / prev (c83) / new, then run.sh complete on new
set -u
exec > >(tee $OUT/log.txt) 2>&1
mkdir -p /tmp/b84 && tar -xzf .carry/c84.tgz -C /tmp/b84
nvidia-smi --query-gpu=name --format=csv,noheader
export LD_LIBRARY_PATH=/tmp/b84/new
D=$OUT/p; mkdir -p $D
GN_GPU_SUITE_LOG=$D/gs GN_GPU_SUITE_TIMEOUT=200 timeout 230 tools/gpu-suite.sh /tmp/b84/new kernel-ops gpu > $D/suites.txt 2>&1; echo "rc $?"; tail -n 4 $D/suites.txt
grep -rh -A2 "RUN.*test_dag_against_rules" $D/gs | head -4
tar -czf $OUT/p.tgz -C $OUT p
echo "== growth rounds (layered, every 10 steps, 11 rounds)"
python3 tools/bench/make_graphs.py /tmp/g84 --only layered > /dev/null
for P in "width 0 2" "alternate 0 2" "alternate 0.002 1"; do
  set -- $P
  for r in $(seq 1 $3); do
    for b in base prev new; do
      timeout 60 /tmp/b84/$b/genet-rt bench /tmp/g84/layered.json --backend cuda --steps 100 --warmup 10 --json --grow $1 --grow-every 10 --grow-threshold $2 --max-groups 2100 > $D/grow-$1-$2-$b-$r.json 2>$D/grow-$1-$2-$b-$r.err
      python3 -c "import json,sys; j=json.load(open(sys.argv[1])); w=j['worker_us_per_step']; print(sys.argv[2], j['groups_end'], 'ms/round %.4f' % (j['growth_ms_total']/max(j['growth_rounds'],1)), 'rounds', j['growth_rounds'], 'loss %.7f' % j['final_loss'], 'ms/step', j['ms_per_step'], 'grow_dags', w.get('grow_dags'), 'barrier', w.get('barrier'))" $D/grow-$1-$2-$b-$r.json "$1 $2 $b $r" || tail -2 $D/grow-$1-$2-$b-$r.err
    done
  done
done
tar -czf $OUT/p.tgz -C $OUT p
LIBDIR=/tmp/b84/new GENET=/tmp/b84/new/genet-rt OUT=$OUT/full BACKENDS="cuda serial" COMPILE="" TIME_BUDGET_S=300 timeout 400 tools/bench/run.sh > $OUT/full-log.txt 2>&1; echo "rc $?"
tail -n 25 $OUT/full-log.txt
tar -czf $OUT/full.tgz -C $OUT full full-log.txt
echo done85
