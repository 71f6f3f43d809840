#!/usr/bin/env bash
# genet-rt train --ranks from the command line: bad values are refused with
# a message naming the option, cuda refuses it, --help tells of it, and 3
# simulated ranks print the one-rank run's figures on the serial backend and
# on the cpu backend (2 workers).
#   ranks_cli.sh GENET_RT
set -euo pipefail
rt=$1
. "$(dirname "$0")/cli_lib.sh"
cli_setup
cli_csv "$dir/r-train.csv" 5 300 3 6
refused "$dir/r-train.csv" "--ranks" --ranks 0
refused "$dir/r-train.csv" "--ranks" --ranks -1
refused "$dir/r-train.csv" "--ranks" --ranks two
refused "$dir/r-train.csv" "--ranks must be in 1..32" --ranks 33 --batch 32
refused "$dir/r-train.csv" "--gpus and a multi-GPU machine" --ranks 2 --backend cuda
refused "$dir/r-train.csv" "--prune-threshold" --ranks 2 --backend serial --prune-threshold 0.01
refused "$dir/r-train.csv" "--prune-threshold" --ranks 2 --backend cpu --prune-threshold 0.01
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
