#!/bin/sh
# Prints the directory holding libcudart_static.a for the nvcc given as $1:
# the one nvcc itself links from (its --dryrun LIBRARIES line), so a wrapper
# or a symlinked nvcc (/usr/local/bin/nvcc -> ...) gives the real toolkit.
# Falls back to the toolkit beside the resolved nvcc. Exit 1 when none holds it.
nvcc=$1
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
: >"$tmp/e.cu"
dirs=$("$nvcc" --dryrun -o "$tmp/e" "$tmp/e.cu" 2>&1 \
    | sed -n 's/^#\$ LIBRARIES=//p' | tr ' ' '\n' | tr -d '"' | sed -n 's/^-L//p')
root=$(dirname "$(dirname "$(readlink -f "$(command -v "$nvcc")")")")
for d in $dirs "$root/lib64" "$root/targets/x86_64-linux/lib" "$root/lib" \
    /usr/local/cuda/lib64 /usr/lib/x86_64-linux-gnu; do
    if [ -f "$d/libcudart_static.a" ]; then
        readlink -f "$d"
        exit 0
    fi
done
echo "no libcudart_static.a beside $nvcc" >&2
exit 1
