#!/usr/bin/env bash
# The growth page as a person uses it: a short training run that grows writes
# a trace (--trace), tools/genet-viz makes the page, headless Chromium opens
# it at the first and at the last frame (#frame=0, #frame=last). The page
# must draw as many groups as the trace holds at each point (it writes the
# count into <output id="status" data-drawn=...>, read with --dump-dom), the
# two screenshots must differ, and --png / --strip must make images.
# Exits 77 (skip) where chromium is not installed.
#   viz_test.sh GENET_RT GENET_VIZ
set -euo pipefail
rt=$1 viz=$2
chromium=$(command -v chromium || command -v chromium-browser || true)
[ -n "$chromium" ] || { echo "SKIP: chromium is not installed (apt-get install chromium)"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 is not installed"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# 4 classes of 24 features; growth on with a low threshold so it grows
awk 'BEGIN { srand(11); print "label,f";
  for (i = 0; i < 3000; i++) { c = i % 4; printf "%d", c;
    for (k = 0; k < 24; k++) printf ",%.3f", (k % 4 == c ? 0.6 : 0.3) + 0.4 * rand(); print "" } }' \
  > "$dir/viz-train.csv"
"$rt" train "$dir/viz-train.csv" --backend cpu --threads 2 --steps 300 --batch 32 \
  --group-size 8 --grow alternate --grow-threshold 0.001 --grow-every 20 \
  --trace "$dir/run.jsonl" --trace-every 10 --stats-interval 0 --quiet > "$dir/train.log" 2>&1 \
  || { cat "$dir/train.log"; fail "training with --trace failed"; }

# what the trace says: frames, groups (input and output included) at the first and last
read -r frames first last < <(python3 - "$dir/run.jsonl" <<'EOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert recs[0]["type"] == "start" and recs[-1]["type"] == "end", "start ... end"
frames = [r for r in recs if r["type"] in ("start", "step")]
first = len(frames[0]["new_groups"])
last = sum(len(r.get("new_groups", [])) for r in frames)
assert frames[-1]["hidden"] + 2 == last, "hidden count and replayed groups agree"
print(len(frames), first, last)
EOF
)
echo "trace: $frames frames, $first groups at the start, $last at the end"
[ "$last" -gt "$first" ] || fail "the network did not grow ($first -> $last groups)"

"$viz" "$dir/run.jsonl" -o "$dir/growth.html" || fail "genet-viz failed"
grep -q 'https\?://' "$dir/growth.html" && fail "the page refers to the network"

browse() {
    timeout 90 "$chromium" --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run --hide-scrollbars \
        --user-data-dir="$(mktemp -d -p "$dir")" --window-size=1280,800 "$@" 2>>"$dir/chromium.log"
}
attr() { grep -o "data-$1=\"[0-9]*\"" | head -1 | grep -o '[0-9]\+' || true; }
url="file://$dir/growth.html"
for at in 0 last; do
    browse --dump-dom "$url#frame=$at" > "$dir/dom-$at.html" || fail "chromium --dump-dom failed"
    drawn=$(attr drawn < "$dir/dom-$at.html")
    frame=$(attr frame < "$dir/dom-$at.html")
    want=$([ $at = 0 ] && echo "$first" || echo "$last")
    want_frame=$([ $at = 0 ] && echo 0 || echo $((frames - 1)))
    echo "#frame=$at: frame $frame, $drawn groups drawn (want frame $want_frame, $want groups)"
    [ -n "$drawn" ] || { tail -20 "$dir/chromium.log"; fail "the page wrote no drawn-group count"; }
    [ "$frame" = "$want_frame" ] || fail "#frame=$at showed frame $frame"
    [ "$drawn" = "$want" ] || fail "#frame=$at drew $drawn groups, the trace has $want"
    browse --screenshot="$dir/shot-$at.png" "$url#frame=$at" > /dev/null \
        || fail "chromium --screenshot failed"
    [ "$(head -c 8 "$dir/shot-$at.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] \
        || fail "shot-$at.png is not a PNG"
done
cmp -s "$dir/shot-0.png" "$dir/shot-last.png" && fail "the first and last frames look the same"
echo "screenshots: first $(stat -c %s "$dir/shot-0.png") bytes, last $(stat -c %s "$dir/shot-last.png") bytes, different"

"$viz" "$dir/run.jsonl" -o "$dir/growth.html" --png "$dir/final.png" --strip "$dir/strip.png" \
    --strip-frames 4 > /dev/null || fail "genet-viz --png --strip failed"
for f in final strip; do [ -s "$dir/$f.png" ] || fail "no $f.png"; done

# Pruning renames slots (docs/TRACE.md): the page must follow it, drawing at
# the last frame exactly the groups the network then has, not the removed
"$rt" train "$dir/viz-train.csv" --backend cpu --threads 2 --steps 300 --batch 32 \
  --group-size 8 --grow alternate --grow-threshold 0.001 --grow-every 20 --prune-threshold 10 \
  --trace "$dir/prune.jsonl" --trace-every 10 --stats-interval 0 --quiet > "$dir/train.log" 2>&1 \
  || { cat "$dir/train.log"; fail "training with --prune-threshold failed"; }
read -r pframes pruned plast kfirst kgroups < <(python3 - "$dir/prune.jsonl" <<'EOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
frames = [r for r in recs if r["type"] in ("start", "step")]
pruned = sum(len(r.get("pruned_groups", [])) for r in frames)
k = next((i for i, r in enumerate(frames) if r.get("pruned_groups")), 0)
print(len(frames), pruned, frames[-1]["hidden"] + 2, k, frames[k]["hidden"] + 2)
EOF
)
echo "pruning trace: $pframes frames, $pruned groups pruned, $plast groups at the end"
[ "$pruned" -gt 0 ] || fail "nothing was pruned: the test does not test the renaming"
"$viz" "$dir/prune.jsonl" -o "$dir/prune.html" || fail "genet-viz failed on a pruning trace"
browse --dump-dom "file://$dir/prune.html#frame=last" > "$dir/dom-prune.html" || fail "chromium --dump-dom failed"
drawn=$(attr drawn < "$dir/dom-prune.html")
echo "pruning trace, #frame=last: $drawn groups drawn (want $plast)"
[ "$drawn" = "$plast" ] || fail "the page drew $drawn groups after pruning, the network has $plast"
browse --dump-dom "file://$dir/prune.html#frame=$kfirst" > "$dir/dom-prune1.html" || fail "chromium --dump-dom failed"
drawn=$(attr drawn < "$dir/dom-prune1.html")
echo "pruning trace, #frame=$kfirst (the first that pruned): $drawn groups drawn (want $kgroups)"
[ "$drawn" = "$kgroups" ] || fail "the page drew $drawn groups where the first pruning left $kgroups"
echo "ok"
