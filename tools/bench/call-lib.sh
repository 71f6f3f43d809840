# shellcheck shell=bash
# Sourced by a device call's script (docs/bench/*/call-script.sh): the
# common start of a call and its two steps. Before sourcing, set ARCHIVE
# (a tar.gz of bundles, tools/bundle.sh's folders), OUT (the output
# folder) and PART; after it, T holds the unpacked bundles, D the outputs
# ($OUT/p), and every step packs $OUT/p into $OUT/p-$PART.tgz, so a call
# cut short still brings back what it measured.
mkdir -p "$OUT/p"
exec > >(tee "$OUT/p/log-$PART.txt") 2>&1
T=$(mktemp -d) && tar -xzf "$ARCHIVE" -C "$T"
nvidia-smi --query-gpu=name --format=csv,noheader
D=$OUT/p
# every bundle's libraries (a build configured where libdeflate was found
# links it, others do not)
LD_LIBRARY_PATH=$(printf '%s:' "$T"/*/)
export LD_LIBRARY_PATH
pack() { tar -czf "$OUT/p-$PART.tgz" -C "$OUT" p; }
# suite BUNDLE SECONDS TEST...: the gpu suite's TESTs on one bundle, each
# killed after SECONDS, into $D/suite-BUNDLE-TESTS.txt, then packed
suite() {
    local v=$1 s=$2 f; shift 2
    f="$D/suite-$v-$(echo "$@" | tr ' ' '-').txt"
    echo "== $* on $v"
    GN_GPU_SUITE_LOG=$D/gs-$v GN_GPU_SUITE_TIMEOUT=$s timeout $((s * $# + 10)) \
        tools/gpu-suite.sh "$T/$v" "$@" > "$f" 2>&1
    echo "rc $?"; tail -n 4 "$f"
    pack
}
# compare NAME "WORKLOADS" REPS STEPS SECONDS: the genet-rt binaries in B
# side by side (tools/bench/compare.sh) into $D/compare-NAME.txt, then
# packed
compare() {
    echo "== compare $1"
    # shellcheck disable=SC2086 # B: one argument a build
    WORKLOADS="$2" REPS=$3 STEPS=$4 WARMUP=10 timeout "$5" tools/bench/compare.sh $B \
        > "$D/compare-$1.txt" 2>&1
    echo "rc $?"; tail -n 12 "$D/compare-$1.txt"
    pack
}
