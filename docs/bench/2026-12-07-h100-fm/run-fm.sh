#!/bin/bash
# README's Fashion-MNIST table: the default run on the three backends, this host
set -u
exec > >(tee $OUT/log.txt) 2>&1
[ -x /tmp/var/base/genet-rt ] || { mkdir -p /tmp/var && tar -xzf .carry/v54.tgz -C /tmp/var; }
nvidia-smi --query-gpu=name --format=csv,noheader
lscpu | grep -i 'model name' | head -1; nproc
export LD_LIBRARY_PATH=/tmp/var/base
FM=.carry/fm/usr/share/datasets/fashion-mnist
B=/tmp/var/base/genet-rt
mkdir -p $OUT/fm
run() { # name, args...
  local n=$1; shift
  local t0=$(date +%s.%N)
  timeout 240 $B train $FM --quiet --stats-interval 0 --json "$@" > $OUT/fm/$n.json 2>$OUT/fm/$n.err
  local rc=$? t1=$(date +%s.%N)
  echo "$n rc $rc wall $(python3 -c "print(round($t1-$t0,3))") $(python3 -c "
import json,sys; d=json.load(open('$OUT/fm/$n.json')); print(d['backend'], d['test_accuracy'], d['groups'], d['steps'], d['seconds'], round(d['steps_per_s']), d.get('phases'))" 2>&1 | tail -1)"
}
for r in 1 2 3; do run cuda.$r --backend cuda; done
for r in 1 2; do run cpu.$r --backend cpu --threads 16; done
run serial.1 --backend serial
