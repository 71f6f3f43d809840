#!/usr/bin/env bash
# genet-rt --precision from the command line: a bad value is refused naming
# the choices; tf32 and bf16 are refused on the host backends and with
# --ranks; with auto they run on cuda where a GPU is, and are refused
# saying why where none is; fp32 is the default (the same figures as no
# option); train --help and bench --help tell of it.
#   precision_cli.sh GENET_RT
set -euo pipefail
rt=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
awk 'BEGIN { srand(7); print "label,f0,f1,f2,f3";
  for (i = 0; i < 200; i++) { c = i % 2; printf "%d", c;
    for (k = 0; k < 4; k++) printf ",%.3f", (k % 2 == c ? 0.7 : 0.2) + 0.3 * rand(); print "" } }' \
  > "$dir/p-train.csv"
refused() { # refused NEEDLE ARGS...: genet-rt fails and says NEEDLE
  local needle=$1
  shift
  if "$rt" train "$dir/p-train.csv" --stats-interval 0 --steps 5 "$@" > "$dir/out" 2>&1; then
    echo "FAIL: genet-rt train $* succeeded"; cat "$dir/out"; exit 1
  fi
  grep -qF -- "$needle" "$dir/out" || { echo "FAIL: $* did not say '$needle'"; cat "$dir/out"; exit 1; }
  echo "refused as it should: $*"
}
refused "--precision wants fp32|tf32|bf16, got 'fp16'" --precision fp16
refused "the serial backend computes fp32 only" --precision tf32 --backend serial
refused "the cpu backend computes fp32 only" --precision bf16 --backend cpu
refused "--precision bf16 with --ranks 2" --precision bf16 --ranks 2
# auto: cuda where a GPU is, else a refusal that says why
if "$rt" train "$dir/p-train.csv" --stats-interval 0 --steps 5 --quiet --precision tf32 \
  > "$dir/auto" 2>&1; then
  grep -q "^backend cuda" "$dir/auto" || { echo "FAIL: tf32 ran, not on cuda"; cat "$dir/auto"; exit 1; }
  grep -q "^precision tf32" "$dir/auto" || { echo "FAIL: no precision line"; cat "$dir/auto"; exit 1; }
  echo "tf32 with auto ran on cuda"
else
  grep -qF "needs the cuda backend" "$dir/auto" || { echo "FAIL: tf32 refused without saying why"; cat "$dir/auto"; exit 1; }
  echo "tf32 with auto refused here: $(grep -F 'needs the cuda' "$dir/auto")"
fi
run() {
  "$rt" train "$dir/p-train.csv" --backend serial --batch 20 --epochs 2 --grow-every 4 \
    --group-size 4 --stats-interval 0 --quiet "$@" | grep -v "^backend " | sed -E 's/ +[0-9.]+s$//; s/, [0-9.]+s$//; s/ \([0-9.]+s\)$//'
}
run > "$dir/none"
run --precision fp32 > "$dir/fp32"
diff "$dir/none" "$dir/fp32" || { echo "FAIL: --precision fp32 is not the default"; exit 1; }
"$rt" train "$dir/p-train.csv" --backend serial --steps 3 --stats-interval 0 --quiet --json \
  > "$dir/json"
grep -q '"precision": "fp32"' "$dir/json" || { echo "FAIL: the JSON summary lacks the precision"; cat "$dir/json"; exit 1; }
# into files first: grep -q leaving early would SIGPIPE genet-rt (pipefail)
"$rt" train --help > "$dir/help"
grep -q -- "--precision P" "$dir/help" || { echo "FAIL: train --help lacks --precision"; exit 1; }
"$rt" bench --help > "$dir/bhelp"
grep -q -- "--precision P" "$dir/bhelp" || { echo "FAIL: bench --help lacks --precision"; exit 1; }
echo "fp32 is the default; --help and bench --help tell of --precision"
