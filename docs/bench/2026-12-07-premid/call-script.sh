#!/bin/bash
# Issue 12, forty-third round: the call built for a card and never run (no
# machine could be had). Measures the read-ahead's second copies inside the
# op (`new`, -DGN_DEV_PRE_MID=1) and the same with an L2 prefetch of the
# next task's weights (`l2`, -DGN_DEV_PRE_MID=1 -DGN_DEV_L2PF=1) against
# main (`base`), side by side, then runs the gpu suite's kernel-ops and gpu
# tests on `new`. Run on the GPU machine from the repository root, with
# ARCHIVE a tar.gz of the three bundles (README.md here says how to make
# it) and OUT a folder for the outputs.
set -u
: "${ARCHIVE:?a tar.gz holding base/ new/ l2/ bundles}" "${OUT:?an output folder}"
exec > >(tee "$OUT/log.txt") 2>&1
T=$(mktemp -d) && tar -xzf "$ARCHIVE" -C "$T"
nvidia-smi --query-gpu=name --format=csv,noheader
export LD_LIBRARY_PATH=$T/new
D=$OUT/p; mkdir -p "$D"
B="$T/base/genet-rt $T/new/genet-rt $T/l2/genet-rt"
echo "== compare deep"
WORKLOADS="deep" REPS=3 STEPS=60 WARMUP=10 timeout 90 tools/bench/compare.sh $B > "$D/compare-deep.txt" 2>&1; echo "rc $?"; tail -4 "$D/compare-deep.txt"
echo "== compare rest"
WORKLOADS="layered many sweep-64-32 sweep-1024-64 one-group" REPS=3 STEPS=100 WARMUP=10 timeout 220 tools/bench/compare.sh $B > "$D/compare-rest.txt" 2>&1; echo "rc $?"; tail -8 "$D/compare-rest.txt"
echo "== suites new"
GN_GPU_SUITE_LOG=$D/gs GN_GPU_SUITE_TIMEOUT=120 timeout 130 tools/gpu-suite.sh "$T/new" kernel-ops gpu > "$D/suites.txt" 2>&1; echo "rc $?"; tail -n 4 "$D/suites.txt"
