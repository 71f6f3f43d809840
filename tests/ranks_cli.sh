#!/usr/bin/env bash
# genet-rt train --ranks from the command line: bad values are refused with
# a message naming the option, cuda refuses it, --help tells of it, and 3
# simulated ranks print the one-rank run's figures on the serial backend and
# on the cpu backend (2 workers).
#   ranks_cli.sh GENET_RT
set -euo pipefail
rt=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
awk 'BEGIN { srand(5); print "label,f0,f1,f2,f3,f4,f5";
  for (i = 0; i < 300; i++) { c = i % 3; printf "%d", c;
    for (k = 0; k < 6; k++) printf ",%.3f", (k % 3 == c ? 0.7 : 0.2) + 0.3 * rand(); print "" } }' \
  > "$dir/r-train.csv"
refused() { # refused NEEDLE ARGS...: genet-rt fails and says NEEDLE
  local needle=$1
  shift
  if "$rt" train "$dir/r-train.csv" --stats-interval 0 "$@" > "$dir/out" 2>&1; then
    echo "FAIL: genet-rt train $* succeeded"; cat "$dir/out"; exit 1
  fi
  grep -qF -- "$needle" "$dir/out" || { echo "FAIL: $* did not say '$needle'"; cat "$dir/out"; exit 1; }
  echo "refused as it should: $*"
}
refused "--ranks" --ranks 0
refused "--ranks" --ranks -1
refused "--ranks" --ranks two
refused "--ranks must be in 1..32" --ranks 33 --batch 32
refused "--gpus and a multi-GPU machine" --ranks 2 --backend cuda
refused "--prune-threshold" --ranks 2 --backend serial --prune-threshold 0.01
refused "--prune-threshold" --ranks 2 --backend cpu --prune-threshold 0.01
# into a file first: grep -q leaving early would SIGPIPE genet-rt (pipefail)
"$rt" train --help > "$dir/help"
grep -q -- "--ranks N" "$dir/help" || { echo "FAIL: --help lacks --ranks"; exit 1; }
run() { # the run's figures without the times
  "$rt" train "$dir/r-train.csv" --batch 32 --epochs 3 --grow-every 4 \
    --group-size 8 --stats-interval 0 --quiet "$@" | grep -v "^backend " | sed -E 's/ +[0-9.]+s$//; s/, [0-9.]+s$//; s/ \([0-9.]+s\)$//'
}
run --backend serial --ranks 1 > "$dir/one"
run --backend serial --ranks 3 > "$dir/three"
run --backend cpu --threads 2 --ranks 3 > "$dir/cpu-three"
cat "$dir/three"
diff "$dir/one" "$dir/three" || { echo "FAIL: 3 ranks differ from 1"; exit 1; }
diff "$dir/one" "$dir/cpu-three" || { echo "FAIL: 3 ranks on cpu differ from 1 on serial"; exit 1; }
echo "3 ranks, on serial and on cpu, print the one-rank run's figures"
