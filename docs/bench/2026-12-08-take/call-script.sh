#!/bin/bash
# Issue 12, forty-seventh round: one device call (~450 s on an H100), run
# from the repository root on the GPU machine with ARCHIVE a tar.gz of the
# bundles base/ t4/ u1/ u2/ t4u1/ d8m/ (README.md here says how to make
# it) and OUT a folder for the outputs:
#
#   1. test_kernel_ops on u2 (every op against the host's, bit for bit:
#      the index divisions by a reciprocal are in every op; the ops alone
#      never set the take's flag)
#   2. compare.sh base t4 u1 u2 t4u1 d8m on layered, many, deep,
#      sweep-64-32 and one-group, REPS=2 STEPS=60 (the step against main,
#      side by side, with the final losses, which must be the same)
#   3. both tests on t4u1 (test_gpu: the persistent kernel against the
#      serial reference, bit for bit, growth included: where the take's
#      records are used), test_gpu on u2, both on d8m, test_kernel_ops on
#      t4 and u1
#
# base: main; t4: -DGN_BLOCK_TAKE_REC=4 (a forward or backward task taken
# without the read-ahead has its list's first 4 edge records copied at its
# take, beside its position's record, from a per-position copy: one round
# trip before its edge table where it took two); u1: -DGN_BLOCK_UDIV=1
# (the task math's index divisions unsigned); u2: -DGN_BLOCK_UDIV=2 (by
# the hardware's approximate reciprocal with one correction each way, ~10
# instructions where C's signed division is ~22); t4u1: t4 and u1; d8m:
# the forty-fifth round's held decrements with the gated read-ahead inside
# the op (C and CUDA -DGN_DAG_DEFER=8, CUDA -DGN_DEV_PRE_MID=2), here so
# that one call also answers the forty-fifth round's question. Every
# output is packed into $OUT/p-$PART.tgz after each step, so a call cut
# short still brings back what it measured.
#
# PART=stack (a later call, once PART=all has named the winners): STACK a
# tar.gz of the stacked bundles (README.md: d8mu1/ d8mt4/ d8mt4u1/, d8m
# with u1, t4 or both), NAMES the ones to run (default all three):
# compare.sh base d8m NAMES... on the same five workloads, then both
# tests on each of NAMES.
set -u
: "${ARCHIVE:?a tar.gz holding base/ t4/ u1/ u2/ t4u1/ d8m/ bundles}" "${OUT:?an output folder}"
PART=${PART:-all}
. tools/bench/call-lib.sh
case $PART in
all)
    suite u2 60 kernel-ops
    B="$T/base/genet-rt $T/t4/genet-rt $T/u1/genet-rt $T/u2/genet-rt $T/t4u1/genet-rt"
    B="$B $T/d8m/genet-rt"
    compare all "layered many deep sweep-64-32 one-group" 2 60 330
    suite t4u1 60 kernel-ops gpu
    suite u2 60 gpu
    suite d8m 60 kernel-ops gpu
    suite t4 60 kernel-ops
    suite u1 60 kernel-ops
    ;;
stack)
    : "${STACK:?a tar.gz holding the stacked bundles}"
    tar -xzf "$STACK" -C "$T"
    NAMES=${NAMES:-d8mu1 d8mt4 d8mt4u1}
    B="$T/base/genet-rt $T/d8m/genet-rt"
    for n in $NAMES; do B="$B $T/$n/genet-rt"; done
    compare stack "layered many deep sweep-64-32 one-group" 2 60 300
    for n in $NAMES; do suite "$n" 60 kernel-ops gpu; done
    ;;
*) echo "PART is all or stack" >&2; exit 2 ;;
esac
echo "done $PART"
