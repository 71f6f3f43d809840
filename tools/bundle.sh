#!/usr/bin/env bash
# A folder that runs genet-rt, its tools and the gpu suite on a GPU machine
# that has no build tree and none of the project's libraries (a card rented
# by the hour, a cluster node): build here, copy the folder there.
#
#   tools/bundle.sh [BUILD_DIR [OUT_DIR]]        (defaults: build, bundle)
#
# OUT_DIR gets host/genet-rt, host/genet-stat, host/genet-stress,
# tests/test_gpu and tests/test_kernel_ops from BUILD_DIR, and the shared
# libraries of the project's own dependencies (cmocka, jansson, zlib,
# libdeflate) as this machine's loader finds them; the C and C++ runtimes and the CUDA
# driver are the target's own. There:
#
#   LD_LIBRARY_PATH=OUT_DIR OUT_DIR/genet-rt train DATA_DIR
#   tools/gpu-suite.sh OUT_DIR            (sets LD_LIBRARY_PATH itself)
#
# The GPU code must have been built for the target's card (-Dgpu_arch,
# default 90: H100/H200). A build without CUDA is refused: its binaries
# would train on the CPU of the GPU machine, and its GPU tests only skip.
set -euo pipefail
build=${1:-build}
out=${2:-bundle}
die() { echo "bundle.sh: $*" >&2; exit 1; }
[ -f "$build/gn_config.h" ] || die "$build is not a genet-rt build directory (no gn_config.h); build first: meson setup $build && ninja -C $build"
grep -q '^#define GN_HAVE_CUDA_BACKEND 1' "$build/gn_config.h" ||
    die "$build was built without CUDA (-Dcuda=disabled, or no nvcc found): nothing in it runs on a GPU"
bins=(host/genet-rt host/genet-stat host/genet-stress tests/test_gpu tests/test_kernel_ops)
for b in "${bins[@]}"; do
    [ -x "$build/$b" ] || die "$build/$b is missing: run ninja -C $build first"
done
mkdir -p "$out"
for b in "${bins[@]}"; do
    cp -f "$build/$b" "$out/"
done
# the dependencies' libraries, each once, as the loader resolves them here
libs=$(for b in "${bins[@]}"; do ldd "$build/$b"; done |
    awk '$1 ~ /^lib(cmocka|jansson|z|deflate)\.so/ && $3 ~ /^\// { print $3 }' | sort -u)
for l in $libs; do
    cp -fL "$l" "$out/$(basename "$l")"
done
echo "bundle.sh: $out holds $(printf '%s ' "${bins[@]##*/}")and $(echo "$libs" | wc -w) libraries ($(du -sh "$out" | cut -f1)); on the GPU machine: tools/gpu-suite.sh $out" >&2
