#!/usr/bin/env bash
# A variant of test_kernel_ops whose device code is built with extra nvcc
# flags (the block ops' tunables: -DGN_BLOCK_Q=8,
# -DGN_BLOCK_UNROLL_ROWS=2, -DGN_BLOCK_UQ=4, ...), for timing one op's
# code alone on the GPU (GN_OPCHECK_TIME=1) without building the whole
# persistent kernel: about 30 s on two cores where the kernel takes minutes.
#
#   tools/bench/opvariant.sh BUILD_DIR OUT [NVCC_FLAG...]
#
# BUILD_DIR: a CUDA build (meson + ninja) whose test_kernel_ops is brought
# up to date first; OUT: the variant's binary (its object beside it as
# OUT.o). The compile and link commands are the build's own (ninja -t
# commands), with the flags added and the outputs renamed, so the variant
# differs from BUILD_DIR/tests/test_kernel_ops by the flags alone. Without
# flags it rebuilds the build's own code (a base to time variants
# against). On the GPU machine:
#
#   GN_OPCHECK_TIME=1 LD_LIBRARY_PATH=BUNDLE OUT          the op timings
#   LD_LIBRARY_PATH=BUNDLE OUT                            the equality tests
set -euo pipefail
die() { echo "opvariant.sh: $*" >&2; exit 1; }
[ $# -ge 2 ] || die "usage: tools/bench/opvariant.sh BUILD_DIR OUT [NVCC_FLAG...]"
build=$(cd "$1" && pwd) || die "no build directory $1"
out=$2
shift 2
case $out in /*) ;; *) out=$PWD/$out ;; esac
[ -f "$build/build.ninja" ] || die "$build is not a configured build directory (no build.ninja)"
grep -q '^#define GN_HAVE_CUDA_BACKEND 1' "$build/gn_config.h" 2>/dev/null ||
    die "$build was built without CUDA: test_kernel_ops has no device code there"
# nvcc where the toolkit installs it (gn_find_nvcc, the build scripts' own)
# shellcheck source=tools/setup.sh
. "$(dirname "${BASH_SOURCE[0]}")/../setup.sh"
gn_find_nvcc
ninja -C "$build" tests/test_kernel_ops >/dev/null || die "ninja -C $build tests/test_kernel_ops failed"
cmds=$(ninja -C "$build" -t commands tests/test_kernel_ops)
obj=tests/test_kernel_ops.p/opcheck.cu.o
compile=$(grep -F -- "-o $obj -c " <<<"$cmds" | tail -n 1)
link=$(grep -F -- "-o tests/test_kernel_ops " <<<"$cmds" | tail -n 1)
if [ -z "$compile" ] || [ -z "$link" ]; then
    die "cannot find opcheck.cu's compile and link commands in $build"
fi
# the flags, each quoted for the shell that runs the build's commands
extra=""
for f in "$@"; do extra+=" $(printf '%q' "$f")"; done
compile=${compile/" -o $obj -c "/"$extra -o $(printf '%q' "$out.o") -c "}
link=${link/" -o tests/test_kernel_ops "/" -o $(printf '%q' "$out") "}
link=${link/" $obj "/" $(printf '%q' "$out.o") "}
mkdir -p "$(dirname "$out")"
(cd "$build" && sh -c "$compile" && sh -c "$link") || die "building the variant failed"
echo "opvariant.sh: $out (test_kernel_ops${*:+ with $*})"
