#!/usr/bin/env bash
# genet-rt train's default length from the command line: a small training
# set (300 examples: 3 minibatches of 128) gets 167 epochs, 501 steps, says
# so on the launch line and logs about ten epoch lines; --epochs and --steps
# set the length exactly; --epochs 0 alone is refused, and so is a bad
# value before a dataset is read (exit 2); --help tells the
# rule; a run cut at step 200 (--epochs 167 --steps 200) and resumed with
# no length option ends where the default run ends.
#   length_cli.sh GENET_RT
set -euo pipefail
rt=$1
. "$(dirname "$0")/cli_lib.sh"
cli_setup
cli_csv "$dir/s-train.csv" 7 300 3 6
fail() { echo "FAIL: $*"; exit 1; }
train() { # train NAME ARGS...: the log in NAME.log, the summary in NAME.json
  local name=$1
  shift
  "$rt" train "$dir/s-train.csv" --backend serial --stats-interval 0 --quiet --json "$@" \
    > "$dir/$name.json" 2> "$dir/$name.log" || { cat "$dir/$name.log"; fail "$name: $*"; }
}
field() { sed -E "s/.*\"$2\": ([^,}]+).*/\1/" "$dir/$1.json"; }
summary() { sed -E 's/"(seconds|steps_per_s)": [0-9.e+-]+, //g; s/, "phases": \{[^}]*\}//; s/, "open_parts": \{[^}]*\}//' "$dir/$1.json"; }

train default
cat "$dir/default.log"
grep -qF "small training set: 167 epochs of 3 steps, 501 steps" "$dir/default.log" ||
  fail "the launch line does not tell the default length"
[ "$(field default steps)" = 501 ] || fail "the default run took $(field default steps) steps"
[ "$(field default epochs)" = 167 ] || fail "the default run took $(field default epochs) epochs"
lines=$(grep -c "^epoch " "$dir/default.log")
[ "$lines" -eq 10 ] || fail "$lines epoch lines, not 10 (every 17th epoch and the last)"
grep -q "^epoch 167 " "$dir/default.log" || fail "no line for the last epoch"

train epochs --epochs 10
[ "$(field epochs steps)" = 30 ] || fail "--epochs 10 took $(field epochs steps) steps"
[ "$(grep -c "^epoch " "$dir/epochs.log")" -eq 10 ] || fail "--epochs 10: not an epoch line each"
! grep -q "small training set" "$dir/epochs.log" || fail "--epochs 10 says small training set"
train steps --steps 40
[ "$(field steps steps)" = 40 ] || fail "--steps 40 took $(field steps steps) steps"
! grep -q "small training set" "$dir/steps.log" || fail "--steps 40 says small training set"
train batch --batch 50
grep -qF "small training set: 84 epochs of 6 steps, 504 steps" "$dir/batch.log" ||
  fail "--batch 50: the length does not follow the batch"
echo "--epochs, --steps set the length; --batch is kept and the length follows it"

if "$rt" train "$dir/s-train.csv" --stats-interval 0 --epochs 0 > "$dir/zero" 2>&1; then
  fail "--epochs 0 alone succeeded"
fi
grep -q "nothing to do" "$dir/zero" || { cat "$dir/zero"; fail "--epochs 0: no reason given"; }
# checked before the dataset is read: this one does not exist
set +e
"$rt" train "$dir/missing-train.csv" --lr -1 > "$dir/badlr" 2>&1
rc=$?
set -e
[ $rc -eq 2 ] || { cat "$dir/badlr"; fail "--lr -1 on a missing dataset: exit $rc, not 2"; }
grep -q -- "--lr must be a positive number" "$dir/badlr" || { cat "$dir/badlr"; fail "--lr -1: no reason given"; }
"$rt" train --help > "$dir/help"
grep -q "at least" "$dir/help" && grep -q "500 steps" "$dir/help" || fail "--help lacks the rule"

train part --epochs 167 --steps 200 --checkpoint "$dir/part.ckpt"
train resumed --resume "$dir/part.ckpt"
grep -qF "small training set: 167 epochs" "$dir/resumed.log" || fail "the resumed run's length"
diff <(summary default) <(summary resumed) || fail "the resumed run differs from the default run"
echo "a default run cut at step 200 and resumed without length options ends as the default run"

# the summary's phases: every part present, none negative, their sum within
# the wall time of main, the training phase at least the run's own seconds
python3 - "$dir/default.json" <<'PY' || fail "the summary's phases"
import json, sys
j = json.load(open(sys.argv[1]))
ph = j["phases"]
parts = ["load", "warm_wait", "open", "train", "save", "close"]
assert all(k in ph for k in parts + ["main"]), ph
assert all(ph[k] >= 0 for k in ph), ph
assert sum(ph[k] for k in parts) <= ph["main"] + 0.002, ph
assert ph["train"] + 0.002 >= j["seconds"], (ph, j["seconds"])
print("phases:", ", ".join("%s %.3f s" % (k, ph[k]) for k in parts + ["main"]))
# the set-up's parts: the trainer's in the order they ran, none negative,
# together within the open phase
op = j["open_parts"]
names = list(op)
assert names[:5] == ["fit", "model", "normalize", "buffers", "backend"], names
assert all(v >= 0 for v in op.values()), op
assert sum(op[k] for k in names[:5]) <= ph["open"] + 0.002, (op, ph)
print("open parts:", ", ".join("%s %.4f s" % (k, op[k]) for k in names))
PY
