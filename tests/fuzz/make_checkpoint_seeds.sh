#!/usr/bin/env bash
# Write the checkpoint seed corpus (tests/fuzz/corpus/checkpoint/): real
# checkpoints of small runs (4 features, 3 classes, groups of 2) at the
# start, after growth of each kind, mid-epoch and at an epoch's end, and an
# adam run's (format 3, with the second moment).
#   tests/fuzz/make_checkpoint_seeds.sh BUILD_DIR
set -euo pipefail
rt=$1/host/genet-rt
here=$(cd "$(dirname "$0")" && pwd)
out=$here/corpus/checkpoint
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
awk 'BEGIN { srand(3); for (i = 0; i < 60; i++) { c = i % 3; printf "%d", c;
  for (k = 0; k < 4; k++) printf ",%.3f", (k == c ? 0.8 : 0.1) + 0.1 * rand(); print "" } }' \
  > "$tmp/s-train.csv"
run() { # name, options...
    local name=$1; shift
    "$rt" train "$tmp/s-train.csv" --backend serial --group-size 2 --batch 8 --max-groups 12 \
        --stats-interval 0 --quiet --checkpoint "$out/$name" "$@" > /dev/null 2>&1
}
run start --steps 1 --grow off
run depth --steps 12 --grow depth --grow-every 2 --grow-threshold 0
run width --steps 12 --grow width --grow-every 2 --grow-threshold 0
run alternate-full --steps 40 --grow alternate --grow-every 1 --grow-threshold 0
run epoch-end --steps 8 --grow random --grow-every 3 --grow-threshold 0
run adam-width --steps 12 --grow width --grow-every 2 --grow-threshold 0 --optimizer adam \
    --lr 0.01 --lr-schedule cosine --warmup 3
ls -l "$out"
