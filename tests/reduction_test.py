#!/usr/bin/env python3
"""tools/bench/reduction.py on a made-up graph whose answers are known by
hand (no GPU): groups 1 (reads the input), 2 (reads 1), 3 (reads 1 and
2), 4 (reads 2), the output reads 3 and 4. Of the four edges between
hidden groups, 1 -> 3 is implied by 1 -> 2 -> 3. Now no forward release
has one successor of in-degree 1; reduced, 1's does (2, which then reads
1 alone). Now no backward has a sole successor backward; reduced, 2's
does (1, read by 2 alone). A graph whose group reads a later id is
refused.

    reduction_test.py REDUCTION_PY
"""
import json
import os
import subprocess
import sys
import tempfile


def run(script, graph, d, name):
    path = os.path.join(d, name + ".json")
    with open(path, "w") as f:
        json.dump(graph, f)
    return subprocess.run([sys.executable, script, path], capture_output=True, text=True)


def main():
    script = sys.argv[1]
    g = {"format": "genet-graph", "version": 1, "inputs": 4, "classes": 2, "group_size": 2,
         "groups": [{"id": 1, "inputs": [0]}, {"id": 2, "inputs": [1]},
                    {"id": 3, "inputs": [1, 2]}, {"id": 4, "inputs": [2]}],
         "output": {"inputs": [3, 4]}}
    with tempfile.TemporaryDirectory() as d:
        r = run(script, g, d, "t")
        assert r.returncode == 0, r.stderr
        last = r.stdout.strip().splitlines()[-1]
        want = "| t | 4 | 4 | 1 (25 %) | 0 -> 1 of 2 | 0 -> 1 of 4 |"
        assert last == want, f"got {last!r}, want {want!r}"
        g["groups"][1]["inputs"] = [3]
        r = run(script, g, d, "bad")
        assert r.returncode != 0 and "not an earlier id" in r.stderr + r.stdout, r
    print("ok: reduction.py counts the implied edges and the fast paths a reduction would give")


if __name__ == "__main__":
    main()
