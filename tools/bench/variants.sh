#!/usr/bin/env bash
# Compile-time variants of the persistent kernel, built, checked and
# bundled for one call on the GPU machine: the step before `compare.sh`.
#
#   tools/bench/variants.sh OUT NAME=FLAGS [NAME=FLAGS...]
#
#   e.g. tools/bench/variants.sh /tmp/var ilv="-DGN_BLOCK_ILV=3" \
#            t14="-DGN_BLOCK_FWD_TILE=1 -DGN_BLOCK_BWD_TILE=1 -DGN_BLOCK_TILE_ROWS=1" \
#            other="@../other-worktree -DGN_BLOCK_ILV=3"
#
# For each NAME: a release build directory build-var-NAME configured with
# FLAGS as the CUDA compiler's extra arguments (meson's cuda_args, an
# array: one flag an element), built; FLAGS that start with @DIR build the
# source tree at DIR (another worktree: a change that no flag selects)
# with the flags after it; its kernels' registers, spills and
# machine-code hash (spills.py, kernel.cu and kernel_1.cu: the two-block
# and the one-block fp32 entries); and a bundle OUT/NAME (bundle.sh, less
# genet-stat and genet-stress) with its kernels' cubins (kernel.cu.cubin,
# kernel_1.cu.cubin: spills.py --keep). The base, OUT/base, is bundled from
# BASE_BUILD (default build, brought up to date first). OUT/run.sh runs,
# on the GPU machine from the repository's root, the kernel-ops and gpu
# suites of every variant and then `compare.sh` of the base and every
# variant (REPS, STEPS, WORKLOADS as compare.sh reads them); with
# SASS_OUT=DIR set, first every cubin's `nvdisasm -g -c` into
# DIR/NAME.UNIT.sass.gz (for tools/bench/sass_lines.py). OUT.tgz holds
# it all (~4 MB for the base, ~9 for each variant): carry it, then there
#
#   mkdir -p /tmp/var && tar -xzf OUT.tgz -C /tmp/var && /tmp/var/run.sh [DATASET_DIR]
#
# The table of spills is printed last and kept in OUT/spills.md: a
# variant with the base's hash has the base's machine code and needs no
# time on the card.
set -euo pipefail
die() { echo "variants.sh: $*" >&2; exit 1; }
usage="usage: tools/bench/variants.sh OUT NAME=FLAGS [NAME=FLAGS...]"
[ $# -ge 2 ] || die "$usage"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=$1
shift
case $out in /*) ;; *) out=$PWD/$out ;; esac
base=${BASE_BUILD:-build}
case $base in /*) ;; *) base=$ROOT/$base ;; esac
names=()
declare -A flags
for a in "$@"; do
    [[ $a == *=* ]] || die "$a: not NAME=FLAGS; $usage"
    n=${a%%=*}
    [[ $n =~ ^[A-Za-z0-9_-]+$ ]] || die "$n: a name of letters, digits, _ and - only"
    [ "$n" != base ] || die "base is the base build's name"
    [ -z "${flags[$n]+x}" ] || die "$n given twice"
    flags[$n]=${a#*=}
    names+=("$n")
done
# shellcheck source=tools/setup.sh
. "$ROOT/tools/setup.sh"
gn_find_nvcc
command -v nvcc >/dev/null 2>&1 || die "no nvcc: variants of the CUDA kernels need the CUDA toolkit"
[ -f "$base/build.ninja" ] || die "$base is not a configured build directory; build it first (tools/test or meson setup)"
mkdir -p "$out"
# the native file stays (git ignores it): meson reads it again whenever a
# variant's build directory regenerates, e.g. under a later plain ninja
ini=$ROOT/build-var-nvcc.ini
printf "[binaries]\ncuda = '%s'\n" "$ROOT/tools/toolchain/nvcc-dep" > "$ini"

bundle() { # build dir, bundle name
    local log
    rm -rf "${out:?}/$2"
    log=$("$ROOT/tools/bundle.sh" "$1" "$out/$2" 2>&1) || { echo "$log" >&2; die "bundling $1 failed"; }
    rm -f "$out/$2/genet-stat" "$out/$2/genet-stress"
    [ "$2" != base ] || rm -f "$out/$2/test_gpu" "$out/$2/test_kernel_ops"
}

gn_log "base: $base"
ninja -C "$base" >/dev/null
bundle "$base" base
rows=$(python3 "$ROOT/tools/bench/spills.py" --keep "$out/base" "$base" device/kernel.cu device/kernel_1.cu | grep '^| kernel' | sed 's/^/| base /')
for n in "${names[@]}"; do
    dir=$ROOT/build-var-$n
    f=${flags[$n]}
    src=$ROOT
    if [[ $f == @* ]]; then
        src=${f%% *}
        src=${src#@}
        [[ $f == *" "* ]] && f=${f#* } || f=
        src=$(cd "$src" 2>/dev/null && pwd) || die "$n: ${flags[$n]%% *}: no such directory"
        [ -f "$src/meson.build" ] || die "$n: $src holds no meson.build"
    fi
    # the flags as meson's array: ['-DA=1', '-DB=2']
    arr=$(python3 -c 'import shlex,sys; print("[" + ", ".join(repr(f) for f in shlex.split(sys.argv[1])) + "]")' "$f")
    was=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["directories"]["source"])' \
        "$dir/meson-info/meson-info.json" 2>/dev/null || true)
    if [ -f "$dir/build.ninja" ] && [ "$was" != "$src" ]; then
        gn_log "$n: $dir was configured from another source tree: configuring it again"
        rm -rf "$dir"
    fi
    if [ ! -f "$dir/build.ninja" ]; then
        gn_log "$n: configuring $dir (${flags[$n]})"
        meson setup "$dir" "$src" --native-file "$ini" --buildtype=release -Dcuda_args="$arr" >/dev/null
    else
        meson configure "$dir" -Dcuda_args="$arr" >/dev/null
    fi
    gn_log "$n: building"
    ninja -C "$dir" >/dev/null
    bundle "$dir" "$n"
    rows+=$'\n'$(python3 "$ROOT/tools/bench/spills.py" --keep "$out/$n" "$dir" device/kernel.cu device/kernel_1.cu | grep '^| kernel' | sed "s/^/| $n /")
done

{
    echo "#!/bin/bash"
    echo "# written by tools/bench/variants.sh: run from the repository's root on the GPU machine"
    echo "set -u"
    echo "V=\$(cd \"\$(dirname \"\$0\")\" && pwd)"
    echo "nvidia-smi --query-gpu=name --format=csv,noheader"
    echo "# SASS_OUT=DIR: every build's kernel cubins disassembled there first (NAME.UNIT.sass.gz)"
    echo "if [ -n \"\${SASS_OUT:-}\" ]; then"
    echo "    mkdir -p \"\$SASS_OUT\""
    echo "    for c in \"\$V\"/*/*.cubin; do"
    echo "        b=\$(basename \"\$(dirname \"\$c\")\").\$(basename \"\$c\" .cubin)"
    echo "        nvdisasm -g -c \"\$c\" | gzip -1 > \"\$SASS_OUT/\$b.sass.gz\""
    echo "    done"
    echo "fi"
    for n in "${names[@]}"; do
        echo "echo \"== suites: $n (${flags[$n]})\""
        echo "GN_GPU_SUITE_TIMEOUT=\${GN_GPU_SUITE_TIMEOUT:-150} tools/gpu-suite.sh \"\$V/$n\" kernel-ops gpu 2>&1 | tail -n 4"
    done
    # the script's own variables, written as they are
    # shellcheck disable=SC2016
    printf 'LD_LIBRARY_PATH="$V/base" tools/bench/compare.sh "$V/base/genet-rt"'
    # shellcheck disable=SC2016
    for n in "${names[@]}"; do printf ' "$V/%s/genet-rt"' "$n"; done
    printf ' "$@"\n'
} > "$out/run.sh"
chmod +x "$out/run.sh"

{
    echo "| build | unit | entry | registers | stack frame | spill stores | spill loads | code bytes | code md5 |"
    echo "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"
    echo "$rows"
} > "$out/spills.md"
tar -czf "$out.tgz" -C "$out" .
gn_log "bundles in $out and $out.tgz ($(du -h "$out.tgz" | cut -f1); base ${names[*]})"
cat "$out/spills.md"
