#!/usr/bin/env bash
# The gpu suite from a folder of binaries, for a GPU machine that has no
# build tree (no cmocka or jansson headers to build one): every gpu-suite
# test of tests/meson.build, each with its own time, then a table.
#
#   tools/gpu-suite.sh BIN_DIR [TEST...]
#
# BIN_DIR holds genet-rt, genet-stat, genet-stress, test_gpu and test_kernel_ops built
# with CUDA (copied from BUILD/host and BUILD/tests) and the shared
# libraries they need that the machine lacks (libjansson, libcmocka), which
# are put on LD_LIBRARY_PATH (tools/bundle.sh BUILD BIN_DIR makes such a
# folder). TESTs: names as in tests/meson.build (default:
# all of them). Each test is killed after GN_GPU_SUITE_TIMEOUT seconds
# (default 300; a hang is a failure, exit 124). Exit status: 0 when every
# test passed or skipped (77).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "${1:?usage: tools/gpu-suite.sh BIN_DIR [TEST...]}" && pwd)
shift
export LD_LIBRARY_PATH=$bin${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# what tests/meson.build's test_env gives the cmocka programs
export GN_TEST_SRCDIR=$root/tests
[ -x "$bin/genet-stress" ] && export GN_STRESS_BIN=$bin/genet-stress
t=$root/tests
declare -A cmd=(
    [kernel-ops]="$bin/test_kernel_ops"
    [gpu]="$bin/test_gpu"
    [gpu-fault]="$t/gpu_fault.sh $bin/genet-rt"
    [gpu-resume]="$t/gpu_resume.sh $bin/genet-rt"
    [gpu-counters]="$t/gpu_counters.sh $bin/genet-rt $bin/genet-stat"
    [gpu-trace]="$t/gpu_trace.sh $bin/genet-rt"
    [gpu-numguard]="$t/gpu_numguard.sh $bin/genet-rt"
    [gpu-kill-resume]="$t/kill_resume.sh $bin/genet-rt 5 cuda"
)
order=(kernel-ops gpu gpu-fault gpu-resume gpu-counters gpu-trace gpu-numguard gpu-kill-resume)
[ $# -gt 0 ] && order=("$@")
log=${GN_GPU_SUITE_LOG:-$root/gpu-suite}
mkdir -p "$log"
rows=()
bad=0
for name in "${order[@]}"; do
    [ -n "${cmd[$name]:-}" ] || { echo "gpu-suite: no test '$name'" >&2; exit 2; }
    t0=$(date +%s%N)
    # shellcheck disable=SC2086 # the command's words
    timeout -k 5 "${GN_GPU_SUITE_TIMEOUT:-300}" ${cmd[$name]} > "$log/$name.log" 2>&1
    rc=$?
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    case $rc in 0) res=pass ;; 77) res=skip ;; 124|137) res="HANG ($rc)"; bad=1 ;; *) res="FAIL ($rc)"; bad=1 ;; esac
    echo "== $name: $res in ${ms} ms"
    if [ "$res" = pass ] || [ "$res" = skip ]; then
        tail -n 5 "$log/$name.log"
    else
        # a failure's seed and its last lines, here too: the log may not
        # travel back from a rented machine
        grep -m 2 'GN_TEST_SEED' "$log/$name.log"
        grep -E '\[  (FAILED|ERROR) |[Ff]ail|differ' "$log/$name.log" | grep -v ' 0 cases differ' | head -n 20
        tail -n 30 "$log/$name.log"
    fi
    rows+=("$(printf '| %-16s | %-9s | %8d |' "$name" "$res" "$ms")")
done
echo
echo "| test             | result    |    ms    |"
echo "| ---------------- | --------- | -------: |"
printf '%s\n' "${rows[@]}"
exit $bad
