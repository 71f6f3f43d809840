#!/usr/bin/env bash
# genet as an installed library, seen from outside: `meson install` into a
# temporary DESTDIR, then install/use_genet.c built against the installed
# <genet/genet.h> and libgenet.a through `pkg-config --cflags --libs --static
# genet` alone, run, and its output checked. Skips (77) only where pkg-config
# or the C compiler is missing.
#   install.sh BUILD_DIR SAMPLE_C INCLUDE_DIR PREFIX LIBDIR MESON...
# Environment: CC (the build's C compiler), GN_EXTRA_CFLAGS (the build's
# sanitizer flags: an instrumented libgenet.a needs them at link time).
set -euo pipefail
build=$1 sample=$2 inc=$3 prefix=$4 libdir=$5
shift 5
cc=${CC:-cc}
command -v pkg-config >/dev/null 2>&1 || { echo "SKIP: pkg-config is not installed"; exit 77; }
command -v "${cc%% *}" >/dev/null 2>&1 || { echo "SKIP: no C compiler ('$cc')"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
"$@" install -C "$build" --destdir "$dest" --no-rebuild --quiet \
    || fail "meson install --destdir $dest failed"

root=$dest$prefix
case $libdir in /*) pcdir=$dest$libdir/pkgconfig ;; *) pcdir=$root/$libdir/pkgconfig ;; esac
for f in "$pcdir/genet.pc" "$root/include/genet/genet.h" "$root/bin/genet-rt" "$root/bin/genet-stat"; do
    [ -f "$f" ] || fail "${f#"$dest"} was not installed"
done
find "$dest" -name libgenet.a | grep -q . || fail "libgenet.a was not installed"
for h in "$inc"/genet/*.h; do
    [ -f "$root/include/genet/${h##*/}" ] || fail "genet/${h##*/} was not installed (install_headers)"
done

# genet.pc is relocatable (prefix=${pcfiledir}/..., meson's
# pkgconfig.relocatable): found through PKG_CONFIG_PATH, it points into the
# DESTDIR by itself. A build directory configured before that option was the
# default has prefix=/usr/local written in: redefine it there.
unset PKG_CONFIG_SYSROOT_DIR
define=()
# shellcheck disable=SC2016 # the literal text
grep -qF 'prefix=${pcfiledir}' "$pcdir/genet.pc" || define=(--define-variable=prefix="$root")
pc() { PKG_CONFIG_PATH=$pcdir pkg-config "${define[@]}" "$@" genet; }
pc --exists || fail "pkg-config does not find genet in $pcdir"
flags=$(pc --cflags --libs --static) || fail "pkg-config --static genet failed"
echo "pkg-config --cflags --libs --static genet: $flags"
case $flags in *"-I$root/"*"-L$root/"*) ;; *) fail "the flags do not point into $root" ;; esac

# shellcheck disable=SC2086
$cc -std=c11 -Wall -Wextra -Werror ${GN_EXTRA_CFLAGS:-} "$sample" -o "$dest/use_genet" $flags \
    || fail "use_genet.c does not build against the installed genet"
out=$("$dest/use_genet") || fail "use_genet exited $?: $out"
echo "$out"
echo "$out" | grep -qE '^ok: genet serial backend, 3 steps, loss [0-9.]+, accuracy' \
    || fail "unexpected output from use_genet"
