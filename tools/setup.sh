# Shared set-up for tools/run and tools/test (sourced, not run):
# install the Debian packages the project needs when they are missing, then
# configure build/ (once) and build it.
#
#   gn_setup            packages + configure + build
#   GN_BUILD_DIR        build directory (default: build)
#   GN_MESON_ARGS       extra arguments for the first `meson setup`
#   GN_BUILD_TARGETS    what ninja builds (default: everything)

GN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GN_BUILD_DIR=${GN_BUILD_DIR:-build}
GN_PACKAGES="meson ninja-build pkg-config gcc libc6-dev libcmocka-dev zlib1g-dev libdeflate-dev libjansson-dev dataset-fashion-mnist"

gn_log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

gn_install_packages() {
    local missing=() p
    for p in $GN_PACKAGES "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "genet-rt needs these Debian packages: ${missing[*]}" >&2
        echo "install them with:" >&2
        echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
        return 1
    fi
    gn_log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

gn_find_nvcc() {
    # The CUDA toolkit installs outside the default PATH.
    if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
        export PATH="/usr/local/cuda/bin:$PATH"
    fi
}

gn_build() {
    cd "$GN_ROOT"
    gn_find_nvcc
    local ini="${GN_BUILD_DIR%/}-nvcc.ini" wipe=()
    # a build configured while the wrapper lived in tools/build/: its
    # compiler path is gone, so configure it again
    if [ -f "$GN_BUILD_DIR/build.ninja" ] && [ -f "$ini" ] &&
        ! grep -qF "$GN_ROOT/tools/toolchain/nvcc-dep" "$ini"; then
        gn_log "$GN_BUILD_DIR names an nvcc wrapper that has moved: configuring it again"
        wipe=(--wipe)
    fi
    if [ ! -f "$GN_BUILD_DIR/build.ninja" ] || [ ${#wipe[@]} -gt 0 ]; then
        gn_log "configuring $GN_BUILD_DIR"
        # nvcc through tools/toolchain/nvcc-dep, so that a changed .cuh header
        # rebuilds the CUDA objects (meson before 1.4 asks nvcc for no
        # dependency file); a native file beside the build directory
        local native=()
        if command -v nvcc >/dev/null 2>&1; then
            printf "[binaries]\ncuda = '%s'\n" "$GN_ROOT/tools/toolchain/nvcc-dep" > "$ini"
            native=(--native-file "$ini")
        fi
        # shellcheck disable=SC2086
        meson setup "${wipe[@]}" "$GN_BUILD_DIR" "${native[@]}" ${GN_MESON_ARGS:-}
    fi
    gn_log "building $GN_BUILD_DIR${GN_BUILD_TARGETS:+ ($GN_BUILD_TARGETS)}"
    # shellcheck disable=SC2086
    ninja -C "$GN_BUILD_DIR" ${GN_BUILD_TARGETS:-}
}

gn_setup() {
    gn_install_packages "$@" && gn_build
}
