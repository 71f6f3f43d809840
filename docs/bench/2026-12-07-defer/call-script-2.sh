#!/bin/bash
# Issue 12, the forty-fifth round's second call (~500 s on an H100), run
# from the repository root on the GPU machine after call-script.sh, with
# ARCHIVE the same tar.gz of bundles (or, since the forty-seventh round,
# ../2026-12-08-take's, whose call goes first now), TL a tar.gz of the timeline builds
# tl/ (main, -DGN_DIAG_TIMELINE) and tld8m/ (d8m, -DGN_DIAG_TIMELINE),
# each only genet-rt (README.md here says how to make both), WIN the
# bundle that won the first call (d8m if unset) and OUT a folder for the
# outputs:
#
#   1. task timelines of deep (step 12) and layered (step 40) on main and
#      on d8m (and on every other timeline build TL holds): the hop's
#      parts (tools/bench/timeline.py) before and after the held
#      decrements
#   2. tools/bench/run.sh complete (cuda and serial, no torch.compile) on
#      WIN: the README's and BENCHMARKS.md's tables for the merged kernels
#
# PART: tl (step 1 only, ~60 s: what .carry/go-defer.sh appends to the
# first call when it has time left), run (step 2 only) or full (both, the
# default). Every output is packed into $OUT/p-$PART.tgz after each step.
set -u
: "${ARCHIVE:?a tar.gz of bundles holding WIN (this folder's defer.tgz, or ../2026-12-08-take's take.tgz)}" "${OUT:?an output folder}"
WIN=${WIN:-d8m}
PART=${PART:-full}
case $PART in tl | run | full) ;; *) echo "PART is tl, run or full" >&2; exit 2 ;; esac
[ "$PART" = run ] || : "${TL:?a tar.gz holding tl/ and tld8m/ (and more timeline builds)}"
. tools/bench/call-lib.sh
if [ "$PART" != run ]; then
    tar -xzf "$TL" -C "$T"
    python3 tools/bench/make_graphs.py "$T/g" --only layered deep > /dev/null
    # every timeline build TL holds (tl, tld8m; since the forty-seventh
    # round also tlt4, t4 with the timeline)
    for b in $(tar -tzf "$TL" | cut -d/ -f1 | sort -u); do
        GN_DIAG_TIMELINE_OUT=$D/tl-deep-$b.csv timeout 60 "$T/$b/genet-rt" bench "$T/g/deep.json" \
            --backend cuda --steps 12 --warmup 4 > "$D/tl-deep-$b.txt" 2>&1
        echo "deep $b rc $? $(grep -o '[0-9.]* ms/step' "$D/tl-deep-$b.txt")"
        GN_DIAG_TIMELINE_OUT=$D/tl-layered-$b.csv timeout 60 "$T/$b/genet-rt" bench "$T/g/layered.json" \
            --backend cuda --steps 40 --warmup 10 > "$D/tl-layered-$b.txt" 2>&1
        echo "layered $b rc $? $(grep -o '[0-9.]* ms/step' "$D/tl-layered-$b.txt")"
    done
    pack
    [ "$PART" = tl ] && { echo "done $PART"; exit 0; }
fi
echo "== run.sh on $WIN"
LIBDIR=$T/$WIN GENET=$T/$WIN/genet-rt OUT=$D/full BACKENDS="cuda serial" COMPILE="" \
    TIME_BUDGET_S=280 timeout 400 tools/bench/run.sh > "$D/full-log.txt" 2>&1
echo "rc $?"
tail -n 30 "$D/full-log.txt"
pack
echo "done $PART"
