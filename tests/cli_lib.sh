# Helpers of the command-line tests (ranks_cli.sh, precision_cli.sh,
# length_cli.sh), sourced after `set -euo pipefail` with rt set to the
# genet-rt binary under test:
#   cli_setup                    dir: a fresh scratch directory, removed at exit
#   cli_csv FILE SEED ROWS C F   a CSV training set: label i % C, then F
#                                features, 0.7 (k % C == label) or 0.2, plus
#                                up to 0.3 of awk's rand() after srand(SEED)
#   refused CSV NEEDLE ARGS...   genet-rt train CSV ARGS must fail and say NEEDLE
cli_setup() {
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' EXIT
}
cli_csv() {
  awk -v seed="$2" -v rows="$3" -v C="$4" -v F="$5" 'BEGIN { srand(seed);
    printf "label"; for (k = 0; k < F; k++) printf ",f%d", k; print "";
    for (i = 0; i < rows; i++) { c = i % C; printf "%d", c;
      for (k = 0; k < F; k++) printf ",%.3f", (k % C == c ? 0.7 : 0.2) + 0.3 * rand(); print "" } }' \
    > "$1"
}
refused() {
  local csv=$1 needle=$2
  shift 2
  if "$rt" train "$csv" --stats-interval 0 "$@" > "$dir/out" 2>&1; then
    echo "FAIL: genet-rt train $* succeeded"; cat "$dir/out"; exit 1
  fi
  grep -qF -- "$needle" "$dir/out" || { echo "FAIL: $* did not say '$needle'"; cat "$dir/out"; exit 1; }
  echo "refused as it should: $*"
}
