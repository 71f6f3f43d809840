# Sourced by the gpu-suite scripts:   gn_cuda_probe GENET_RT DATA LOG
# One cuda step on DATA. Where the build has no cuda backend or no usable
# GPU exists, print the reason and exit 77 (skip); where the step fails
# otherwise, print its log and exit 1; else return.
gn_cuda_probe() {
    local rt=$1 data=$2 log=$3
    "$rt" train "$data" --backend cuda --steps 1 --stats-interval 0 --quiet > "$log" 2>&1 && return 0
    if grep -qE "not available in this build|--backend cuda:" "$log"; then
        echo "SKIP: $(grep "genet-rt:" "$log")"
        exit 77
    fi
    cat "$log"
    echo "FAIL: the cuda probe run failed"
    exit 1
}
