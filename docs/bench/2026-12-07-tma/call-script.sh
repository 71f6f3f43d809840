#!/bin/bash
# Issue 12, forty-fourth round: the call built for a card and never run (no
# machine was lent in the session). Two parts, one device call each (each
# well under the 600 s a call may run), run from the repository root on the
# GPU machine with ARCHIVE a tar.gz of the five bundles (README.md here says
# how to make it) and OUT a folder for the outputs:
#
#   PART=perf    test_kernel_ops on the two bulk-copy variants first (their
#                ops against the host's, bit for bit: a broken variant shows
#                before any timing), then compare.sh base new l2 tma1 tma3
#                on deep, then on layered many sweep-64-32 one-group
#                (~300 s on an H100)
#   PART=suites  the gpu suite's kernel-ops and gpu tests on new, tma1, tma3
#   PART=quick   the short form of perf (~150 s): test_kernel_ops on tma3,
#                then the five builds on deep, layered, sweep-64-32 and
#                one-group, REPS=2 STEPS=60
#
# base: main (-DGN_DEV_PRE_MID=0, -DGN_BLOCK_TMA=0); new: the read-ahead's
# second copies inside the op (-DGN_DEV_PRE_MID=1); l2: new plus the next
# weights prefetched into L2 (-DGN_DEV_L2PF=1); tma1: the forward's weight
# rows by bulk copies (-DGN_BLOCK_TMA=1); tma3: and its inputs
# (-DGN_BLOCK_TMA=3). Every output is packed into $OUT/p-$PART.tgz after
# each step, so a call cut short still brings back what it measured.
set -u
: "${ARCHIVE:?a tar.gz holding base/ new/ l2/ tma1/ tma3/ bundles}" "${OUT:?an output folder}"
PART=${PART:-perf}
. tools/bench/call-lib.sh
B="$T/base/genet-rt $T/new/genet-rt $T/l2/genet-rt $T/tma1/genet-rt $T/tma3/genet-rt"
case $PART in
perf)
    suite tma3 100 kernel-ops
    suite tma1 100 kernel-ops
    compare deep deep 3 60 150
    compare rest "layered many sweep-64-32 one-group" 3 100 300
    ;;
quick)
    # the short form for a call with little device time left: tma3's ops,
    # then all five builds on deep, layered, sweep-64-32, one-group
    suite tma3 60 kernel-ops
    compare quick "deep layered sweep-64-32 one-group" 2 60 200
    ;;
suites)
    for v in new tma1 tma3; do suite $v 120 kernel-ops gpu; done
    ;;
new)
    # what merging new needs after quick: its suites, and base against new
    # alone on layered and many
    suite new 120 kernel-ops gpu
    B="$T/base/genet-rt $T/new/genet-rt"
    compare new "layered many" 3 100 120
    ;;
gate)
    # the read-ahead inside the op only for a task of one successor
    # (-DGN_DEV_PRE_MID=2, bundle m2; ARCHIVE then holds base/ new/ m2/):
    # against base and new on every workload, then its suites
    B="$T/base/genet-rt $T/new/genet-rt $T/m2/genet-rt"
    compare gate "deep layered many sweep-64-32 one-group" 2 60 200
    suite m2 100 kernel-ops gpu
    ;;
*) echo "PART is perf, quick, suites, new or gate" >&2; exit 2 ;;
esac
echo "done $PART"
