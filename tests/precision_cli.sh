#!/usr/bin/env bash
# genet-rt --precision from the command line: a bad value is refused naming
# the choices; tf32 and bf16 are refused on the host backends and with
# --ranks; with auto they run on cuda where a GPU is, and are refused
# saying why where none is; fp32 is the default (the same figures as no
# option); train --help and bench --help tell of it.
#   precision_cli.sh GENET_RT
set -euo pipefail
rt=$1
. "$(dirname "$0")/cli_lib.sh"
cli_setup
cli_csv "$dir/p-train.csv" 7 200 2 4
refused "$dir/p-train.csv" "--precision wants fp32|tf32|bf16, got 'fp16'" --steps 5 --precision fp16
refused "$dir/p-train.csv" "the serial backend computes fp32 only" --steps 5 --precision tf32 --backend serial
refused "$dir/p-train.csv" "the cpu backend computes fp32 only" --steps 5 --precision bf16 --backend cpu
refused "$dir/p-train.csv" "--precision bf16 with --ranks 2" --steps 5 --precision bf16 --ranks 2
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
