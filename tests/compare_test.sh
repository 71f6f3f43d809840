#!/usr/bin/env bash
# tools/bench/compare.sh's bookkeeping without a GPU: stand-in genet-rt
# builds (scripts printing the JSON of `genet-rt bench --json` and `train
# --json`, ms per step fixed per build) through two and three builds and a
# data set; the table must give each build's median, its ratio to the
# first, and flag the build whose final loss differs; a build that fails
# must show as such; the in-kernel profile and the busy time by task kind
# must be tabled; bad arguments must be refused with a message.
# Exits 77 where python3 is missing (make_graphs.py and the tables need it).
#   compare_test.sh COMPARE_SH
set -euo pipefail
cmp=$1
command -v python3 >/dev/null || { echo "SKIP: python3 is not installed"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# fake NAME MS LOSS: a build whose every bench step takes MS ms
fake() {
    cat >"$dir/$1" <<EOF
#!/bin/sh
if [ "\$1" = bench ]; then
  [ -f "\$2" ] || { echo "no graph \$2" >&2; exit 1; }
  echo '{"ms_per_step": $2, "final_loss": $3, "worker_us_per_step": {"take": 1, "finish": 2, "task_edges": 3, "task_loads": 4, "task_math": 5, "barrier": 6, "data": 0.5, "bookkeeping": 0.25, "workers": 4}, "tasks_per_step": 21.0, "busy_ms_per_step": {"forward": 0.0125, "backward": 0.02, "update": 0.5}}'
else
  echo '{"test_accuracy": 0.8912}'
fi
EOF
    chmod +x "$dir/$1"
}
fake a 2.0 2.5
fake b 1.5 2.5
fake c 3.0 2.51
printf '#!/bin/sh\necho "no device" >&2\nexit 1\n' >"$dir/broken"
chmod +x "$dir/broken"
mkdir "$dir/data"
export REPS=2 WORKLOADS="layered one-group"

# two builds: old and new, new/old, same result
"$cmp" "$dir/a" "$dir/b" >"$dir/two" 2>"$dir/two.err" || { cat "$dir/two.err"; fail "two builds"; }
grep -q '^| workload | old ms/step | new ms/step | new/old | same result |' "$dir/two" ||
    fail "two builds: no old/new table header: $(cat "$dir/two")"
grep -q '^| layered | 2.0000 | 1.5000 | 0.750 | yes | 2.5 |$' "$dir/two" ||
    fail "two builds: layered row wrong: $(grep '^| layered' "$dir/two")"
grep -q '^| one-group | old | 1.0 | 2.0 | 3.0 | 4.0 | 5.0 | 6.0 | 2.0 | 1.0 |$' "$dir/two" ||
    fail "two builds: profile row wrong: $(grep '^| one-group | old' "$dir/two")"
grep -q '^| one-group | new | 21.0 | 12.5 | 20.0 | 500.0 |$' "$dir/two" ||
    fail "two builds: busy-time row wrong: $(grep '^| one-group | new' "$dir/two")"

# three builds and a data set: b0, b1, b2 against b0; b2's loss differs
"$cmp" "$dir/a" "$dir/b" "$dir/c" "$dir/data" >"$dir/three" 2>"$dir/three.err" ||
    { cat "$dir/three.err"; fail "three builds"; }
grep -q "^- b2: $dir/c\$" "$dir/three" || fail "three builds: b2 not listed with its path"
grep -q '^| layered | 2.0000 | 1.5000 | 0.750 | 3.0000 | 1.500 | no (b2) | 2.51 |$' "$dir/three" ||
    fail "three builds: layered row wrong: $(grep '^| layered' "$dir/three")"
grep -q '^| fashion-mnist run (ms, whole) | [0-9.]* | [0-9.]* | [0-9.]* | [0-9.]* | [0-9.]* | yes | 0.8912 |$' \
    "$dir/three" || fail "three builds: no data set row: $(grep fashion "$dir/three")"

# a graph of make_graphs.py's wide family is a workload too
WORKLOADS=wide-128-2x16 "$cmp" "$dir/a" "$dir/b" >"$dir/wide" 2>"$dir/wide.err" ||
    { cat "$dir/wide.err"; fail "a wide workload"; }
grep -q '^| wide-128-2x16 | 2.0000 | 1.5000 | 0.750 | yes | 2.5 |$' "$dir/wide" ||
    fail "a wide workload: row wrong: $(grep '^| wide' "$dir/wide")"

# a build that fails: its median is nan and the results are not the same
"$cmp" "$dir/a" "$dir/broken" >"$dir/broken.out" 2>"$dir/broken.err" ||
    fail "a failing build must not stop the comparison"
grep -q '^| layered | 2.0000 | nan | - | no |' "$dir/broken.out" ||
    fail "failing build: layered row wrong: $(grep '^| layered' "$dir/broken.out")"
grep -q 'failed: no device' "$dir/broken.err" || fail "failing build: its error is not shown"

# refusals
refused() { # refused MESSAGE ARGS...: exit 2 and the message
    local want=$1 rc=0
    shift
    "$cmp" "$@" >"$dir/r.out" 2>"$dir/r.err" || rc=$?
    [ "$rc" = 2 ] || fail "compare.sh $*: exit $rc, not 2"
    grep -q -- "$want" "$dir/r.err" || fail "compare.sh $*: no '$want' in: $(cat "$dir/r.err")"
}
refused "two builds at least" "$dir/a"
refused "two builds at least" "$dir/a" "$dir/data"
refused "neither a genet-rt binary" "$dir/a" "$dir/missing"
refused "two data set directories" "$dir/a" "$dir/b" "$dir/data" "$dir"
echo PASS
