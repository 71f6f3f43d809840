#!/usr/bin/env bash
# End to end: a short training run publishes its counters in a stats ring
# while genet-stat --follow reads them live, then sees the run finish.
#   ring_e2e.sh GENET_RT GENET_STAT
set -euo pipefail
rt=$1 stat=$2
dir=$(mktemp -d)
name=genet-e2e-$$
trap 'rm -rf "$dir"; rm -f /dev/shm/$name' EXIT
# a small dataset: 3 classes of 16 features
awk 'BEGIN { srand(7); print "label,f";
  for (i = 0; i < 20000; i++) { c = i % 3; printf "%d", c;
    for (k = 0; k < 64; k++) printf ",%.3f", (k % 3 == c ? 0.7 : 0.2) + 0.2 * rand(); print "" } }' \
  > "$dir/e2e-train.csv"
# 60 epochs: ~0.5 s on this backend since the host's math runs in register
# blocks (15 took 0.1 s, short enough for the ring to come and go between
# two polls below on a loaded machine, and for --follow to see fewer than
# 3 rows)
"$rt" train "$dir/e2e-train.csv" --backend cpu --threads 2 --epochs 60 --batch 32 \
  --group-size 16 --stats-ring "$name" --stats-interval 20 --quiet > "$dir/run.log" 2>&1 &
pid=$!
for _ in $(seq 500); do [ -e /dev/shm/$name ] && break; sleep 0.01; done
[ -e /dev/shm/$name ] || { echo "FAIL: the ring $name never appeared"; cat "$dir/run.log"; exit 1; }
"$stat" --list | grep -q "$name" || { echo "FAIL: --list does not show $name"; exit 1; }
set +e
"$stat" --follow "$name" > "$dir/follow.out" 2>&1
rc=$?
set -e
wait $pid
rows=$(grep -cE '^ +[0-9.]+(ms|s) ' "$dir/follow.out" || true)
echo "genet-stat --follow: exit $rc, $rows rows"
tail -3 "$dir/follow.out"
[ $rc -eq 0 ] || { echo "FAIL: genet-stat exited $rc"; cat "$dir/follow.out"; exit 1; }
[ "$rows" -ge 3 ] || { echo "FAIL: fewer than 3 live rows"; cat "$dir/follow.out"; exit 1; }
grep -q "finished" "$dir/follow.out" || { echo "FAIL: no 'finished' line"; exit 1; }
[ ! -e /dev/shm/$name ] || { echo "FAIL: the ring was not removed after the run"; exit 1; }
echo "ok"
