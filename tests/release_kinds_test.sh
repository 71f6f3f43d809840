#!/usr/bin/env bash
# tools/bench/release_kinds on a made-up graph whose answers are known by
# hand (no GPU): groups 1 (reads the input), 2 (reads 1), 3 (reads 1 and
# 2), 4 (reads 2), the output reads 3 and 4; the reduced task DAG drops
# 1 -> 3 (implied by 1 -> 2 -> 3). Forward: 1 hands 2 on alone (fast);
# 2 releases 3 (in-degree 1) and 4, the output's forward its backward(4)
# (in-degree 1) and backward(3) (holds, one other each); 3 and 4 release
# the output's forward, in-degree 2 (fenced). Backward: 2 releases
# backward(1) (in-degree 1) and update(4) (a hold); 4 and 3 release
# backward(2) (in-degree 2) with update(out), 1 its update parts (fenced).
# A file that is not a graph is refused, with a message.
#
#   release_kinds_test.sh RELEASE_KINDS
set -euo pipefail
bin=$1
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
cat > "$d/t.json" <<'JSON'
{"format": "genet-graph", "version": 1, "inputs": 4, "classes": 2, "group_size": 2,
 "groups": [{"id": 1, "inputs": [0]}, {"id": 2, "inputs": [1]},
            {"id": 3, "inputs": [1, 2]}, {"id": 4, "inputs": [2]}],
 "output": {"inputs": [3, 4]}}
JSON
got=$("$bin" "$d/t.json" | tail -n 2)
want='| t.json | forward | 5 | 1 | 2 | 2 | 0 | 1.00 |
| t.json | backward | 4 | 0 | 1 | 3 | 0 | 1.00 |'
if [ "$got" != "$want" ]; then
    printf 'got:\n%s\nwant:\n%s\n' "$got" "$want" >&2
    exit 1
fi
echo '{"format": "genet-graph"}' > "$d/bad.json"
if "$bin" "$d/bad.json" > /dev/null 2> "$d/err"; then
    echo "a file that is not a graph was read" >&2
    exit 1
fi
grep -q "release_kinds: " "$d/err" || { echo "no message for a bad file" >&2; exit 1; }
echo ok
