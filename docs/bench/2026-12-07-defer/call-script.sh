#!/bin/bash
# Issue 12, forty-fifth round: one device call (~300 s on an H100), run
# from the repository root on the GPU machine with ARCHIVE a tar.gz of the
# bundles base/ m2/ d8/ d8m/ (README.md here says how to make it)
# and OUT a folder for the outputs:
#
#   1. test_kernel_ops on d8m (the held decrements and the gated
#      read-ahead inside the op: every op against the host's, bit for bit)
#   2. compare.sh base m2 d8 d8m on deep, layered, many, sweep-64-32
#      and one-group, REPS=2 STEPS=60 (the step against main, side by
#      side, with the final losses, which must be the same)
#   3. test_gpu on d8m, then both tests on d8 and m2
#
# base: main (edbdbc3); m2: -DGN_DEV_PRE_MID=2 (the forty-third round's
# read-ahead inside the op in its gated form, one successor only); d8: -DGN_DAG_DEFER=8 (C and CUDA: a task whose first
# successor has in-degree 1 hands it on at once and holds the other
# decrements back, at most 8, until its next fence); d8m: d8 with
# -DGN_DEV_PRE_MID=2, the read-ahead inside the op also where the release
# holds decrements back. Every output is
# packed into $OUT/p-$PART.tgz after each step, so a call cut short still
# brings back what it measured.
set -u
: "${ARCHIVE:?a tar.gz holding base/ m2/ d8/ d8m/ bundles}" "${OUT:?an output folder}"
PART=${PART:-all}
. tools/bench/call-lib.sh
case $PART in
all)
    suite d8m 60 kernel-ops
    B="$T/base/genet-rt $T/m2/genet-rt $T/d8/genet-rt $T/d8m/genet-rt"
    compare all "deep layered many sweep-64-32 one-group" 2 60 330
    suite d8m 60 gpu
    suite d8 60 kernel-ops gpu
    suite m2 60 kernel-ops gpu
    ;;
*) echo "PART is all" >&2; exit 2 ;;
esac
echo "done $PART"
