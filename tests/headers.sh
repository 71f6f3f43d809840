#!/usr/bin/env bash
# Each public header compiles alone: for every include/genet/*.h, a
# translation unit that includes only it (twice, through its include guard),
# built as C11 with -Wall -Wextra -Wpedantic -Werror, and as C++ where a C++
# compiler is present.
#   headers.sh INCLUDE_DIR
# Environment: CC (the build's C compiler), CXX (optional).
set -euo pipefail
inc=$1
cc=${CC:-cc}
command -v "${cc%% *}" >/dev/null 2>&1 || { echo "SKIP: no C compiler ('$cc')"; exit 77; }
cxx=${CXX:-}
if [ -z "$cxx" ]; then
    for c in c++ g++ clang++; do command -v $c >/dev/null 2>&1 && { cxx=$c; break; }; done
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
n=0 bad=0
for h in "$inc"/genet/*.h; do
    [ -f "$h" ] || continue
    name=genet/${h##*/}
    printf '#include <%s>\n#include <%s>\n' "$name" "$name" > "$dir/tu.c"
    n=$((n + 1))
    # shellcheck disable=SC2086
    if $cc -std=c11 -Wall -Wextra -Wpedantic -Wstrict-prototypes -Werror -I"$inc" \
        -c "$dir/tu.c" -o "$dir/tu.o"; then
        echo "ok   C11  $name"
    else
        echo "FAIL C11  $name"; bad=$((bad + 1))
    fi
    [ -n "$cxx" ] || continue
    cp "$dir/tu.c" "$dir/tu.cc"
    if $cxx -std=c++11 -Wall -Wextra -Wpedantic -Werror -I"$inc" -c "$dir/tu.cc" -o "$dir/tu.o"; then
        echo "ok   C++  $name"
    else
        echo "FAIL C++  $name"; bad=$((bad + 1))
    fi
done
[ $n -gt 0 ] || { echo "FAIL: no headers in $inc/genet"; exit 1; }
[ -n "$cxx" ] || echo "(no C++ compiler: C only)"
echo "$n header(s), $bad failure(s)"
[ $bad -eq 0 ]
