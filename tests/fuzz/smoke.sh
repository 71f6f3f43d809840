#!/usr/bin/env bash
# A short fuzz run of one target from its seed corpus (the 'fuzz' suite):
#   smoke.sh TARGET SEED_DIR SECONDS
# New inputs go to a scratch corpus (the seed directory is only read); a
# crash, leak, timeout (10 s per input) or out-of-memory (2 GiB) fails the
# test and leaves the reproducer in the scratch directory, which is kept.
set -euo pipefail
target=$1 seeds=$2 secs=$3
work=$(mktemp -d "${TMPDIR:-/tmp}/gn-fuzz-$(basename "$target").XXXXXX")
mkdir -p "$work/corpus"
set +e
"$target" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/" "$work/corpus" "$seeds" > "$work/log" 2>&1
rc=$?
set -e
grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)' "$work/log" || true
if [ $rc -ne 0 ]; then
    tail -60 "$work/log"
    echo "FAIL: $(basename "$target") exited $rc; reproducer and log in $work"
    exit 1
fi
rm -rf "$work"
