#!/usr/bin/env bash
# The numeric guard on the cuda backend against the cpu backend (suite
# 'gpu'; exit 77 where there is no usable GPU or no cuda backend):
#   gpu_numguard.sh GENET_RT
# The kernel runs numguard.h's rules where the host backends do (after a
# step's growth; the dead-network rule at epoch ends), and the host words
# the message from the model the kernel left, so a run that explodes, and a
# run whose network dies, must end with the same message, the same step and
# the same exit status on cuda as on cpu.
set -euo pipefail
rt=$1
dir=$(mktemp -d "${TMPDIR:-/tmp}/gn-gpu-numguard.XXXXXX")
trap 'rm -rf "$dir"' EXIT
awk 'BEGIN { srand(7); print "label,f";
  for (i = 0; i < 3000; i++) { c = i % 10; printf "%d", c;
    for (k = 0; k < 64; k++) printf ",%.3f", (k % 10 == c ? 0.6 : 0.2) + 0.3 * rand(); print "" } }' \
  > "$dir/n-train.csv"
# every feature 0: the hidden group never opens a ReLU, the loss stays at chance
awk 'BEGIN { print "label,f";
  for (i = 0; i < 3000; i++) { printf "%d", i % 10; for (k = 0; k < 64; k++) printf ",0"; print "" } }' \
  > "$dir/z-train.csv"

. "$(dirname "$0")/cuda_probe.sh"
gn_cuda_probe "$rt" "$dir/n-train.csv" "$dir/probe.log"

fail=0
check() { # NAME WANT DATA OPTIONS...
    local name=$1 want=$2 data=$3
    shift 3
    local b rc
    for b in cpu cuda; do
        set +e
        "$rt" train "$data" --backend "$b" --stats-interval 0 --quiet "$@" > "$dir/$name-$b.log" 2>&1
        rc=$?
        set -e
        echo "$name, $b: exit $rc: $(grep 'genet-rt:' "$dir/$name-$b.log" || echo 'no message')"
        [ $rc -ne 0 ] || { echo "FAIL: $name on $b did not stop"; fail=1; }
    done
    grep -q "$want" "$dir/$name-cpu.log" || { echo "FAIL: $name on cpu: no '$want'"; fail=1; }
    if ! diff <(grep 'genet-rt:' "$dir/$name-cpu.log") <(grep 'genet-rt:' "$dir/$name-cuda.log"); then
        echo "FAIL: $name: the cuda backend's message differs from the cpu backend's"
        fail=1
    fi
}
check explode "the training loss exploded at step" "$dir/n-train.csv" --epochs 2 --lr 200
check died "the network died: at the end of epoch 2" "$dir/z-train.csv" --epochs 4 --grow off
[ $fail -eq 0 ] && echo "ok: the cuda backend's guard stops where the cpu backend's does, in its words"
exit $fail
