#!/usr/bin/env bash
# The whole speed comparison on one GPU machine, in one command:
#
#   tools/bench/run.sh [GENET_RT [OUT_DIR]]
#
# generates the workloads (make_graphs.py), times a training step of each
# with genet-rt bench on the cuda, cpu and serial backends and with the
# PyTorch contenders (torch_bench.py), and writes OUT_DIR/results.json,
# OUT_DIR/table.md and OUT_DIR/speed.png (report.py); the raw outputs of
# every command are kept in OUT_DIR/raw. The table is printed last.
#
# Order, so that a tight time box cuts the least useful runs: genet-rt cuda
# for every workload and the growth on/off pair, serial on `layered` (the
# speed target's cuda-over-serial ratio, side by side in one run), then the
# PyTorch contenders, then serial on the rest, then cpu, then
# torch.compile. Every command runs under `timeout`; once TIME_BUDGET_S has
# passed, later runs are skipped and the table says so.
#
# Environment (arguments win over GENET and OUT):
#   GENET            genet-rt binary (default .carry/bin/genet-rt)
#   OUT              output directory (default docs/bench)
#   LIBDIR           added to LD_LIBRARY_PATH (default .carry/lib, if present)
#   PYTHON           python3 with torch and matplotlib (default python3)
#   HANDOFF_US       measured inter-SM hand-off in µs for the floor (default 0.23)
#   PEAK_TFLOPS      fp32 peak for the floor (default: from the nvidia-smi name;
#                    H100 SXM and H200: 67)
#   QUICK=1          the sweep's smallest graph only, a few steps: a smoke test
#   BACKENDS         genet-rt backends (default "cuda cpu serial")
#   PRECISION        fp32 (default), tf32 or bf16: --precision of every genet-rt
#                    cuda run and of the PyTorch contenders, so that both sides
#                    compute alike; the serial and cpu backends only do fp32 and
#                    are skipped (with a note) at tf32 and bf16
#   GROW_BACKEND     backend of the growth pair (default cuda)
#   TORCH=0          skip the PyTorch contenders
#   TORCH_DEVICE     cuda (default); cpu checks the PyTorch side's logic on a
#                    machine without a GPU (no CUDA-graph contenders, no timing
#                    worth reading)
#   COMPILE          workloads that also get torch.compile (default "layered";
#                    "" for none)
#   COMPILE_TIMEOUT  seconds torch.compile may take (default 150)
#   CUDA_STEPS, CUDA_WARMUP   genet-rt cuda timed / warm-up steps (200 / 20)
#   TORCH_BUDGET_S   seconds of timed steps per PyTorch contender (default 2)
#   TIME_BUDGET_S    soft limit on the whole run (default 420): later runs are
#                    skipped once it is spent; torch.compile gets what is left
#   WORK             scratch directory for graphs, weights, batches
#                    (default: a fresh temporary directory, removed at the end)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/tools/bench"
GENET=${1:-${GENET:-.carry/bin/genet-rt}}
OUT=${2:-${OUT:-docs/bench}}
PYTHON=${PYTHON:-python3}
HANDOFF_US=${HANDOFF_US:-0.23}
PEAK_TFLOPS=${PEAK_TFLOPS:-}
QUICK=${QUICK:-0}
BACKENDS=${BACKENDS:-cuda cpu serial}
PRECISION=${PRECISION:-fp32}
GROW_BACKEND=${GROW_BACKEND:-cuda}
TORCH=${TORCH:-1}
TORCH_DEVICE=${TORCH_DEVICE:-cuda}
COMPILE=${COMPILE-layered}
COMPILE_TIMEOUT=${COMPILE_TIMEOUT:-150}
CUDA_STEPS=${CUDA_STEPS:-200}
CUDA_WARMUP=${CUDA_WARMUP:-20}
TORCH_BUDGET_S=${TORCH_BUDGET_S:-2}
TIME_BUDGET_S=${TIME_BUDGET_S:-420}

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

case "$PRECISION" in
fp32 | tf32 | bf16) ;;
*) die "PRECISION wants fp32, tf32 or bf16, got '$PRECISION'" ;;
esac
[ -x "$GENET" ] || die "no genet-rt binary at '$GENET' (give it as the first argument or GENET=)"
GENET=$(cd "$(dirname "$GENET")" && pwd)/$(basename "$GENET")
LIBDIR=${LIBDIR:-$ROOT/.carry/lib}
[ -d "$LIBDIR" ] && export LD_LIBRARY_PATH="$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
command -v "$PYTHON" >/dev/null || die "no $PYTHON"
mkdir -p "$OUT" || die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
RAW="$OUT/raw"
rm -rf "$RAW" "$OUT/speed.png"
mkdir -p "$RAW"
if [ -z "${WORK:-}" ]; then
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/genet-bench.XXXXXX") || die "mktemp failed"
    trap 'rm -rf "$WORK"' EXIT
fi
mkdir -p "$WORK/graphs" "$WORK/data"
T0=$(date +%s)
elapsed() { echo $(( $(date +%s) - T0 )); }
over_budget() { [ "$(elapsed)" -ge "$TIME_BUDGET_S" ]; }
NOTES=()

# run_to BASE SECONDS CMD...: stdout to BASE.out, stderr to BASE.err, exit
# status to BASE.rc (124: timed out); never fails the script.
# The limit is also cut to what is left of the budget plus two minutes, so
# that the whole run stays under TIME_BUDGET_S + 3 minutes or so.
run_to() {
    local base=$1 limit=$2
    shift 2
    local left=$((TIME_BUDGET_S + 120 - $(elapsed)))
    [ "$left" -lt 30 ] && left=30
    [ "$limit" -gt "$left" ] && limit=$left
    timeout --kill-after=10 "$limit" "$@" >"$base.out" 2>"$base.err"
    local rc=$?
    echo "$rc" >"$base.rc"
    if [ "$rc" -ne 0 ]; then
        say "  exit $rc: $(tail -n 1 "$base.err" 2>/dev/null | cut -c1-160)"
    fi
    return 0
}
skip() { printf '%s\n' "$2" >"$1.skip"; }
has_backend() { case " $BACKENDS " in *" $1 "*) return 0 ;; esac; return 1; }
# the serial and cpu backends compute fp32 only (genet-rt refuses tf32 and
# bf16 there): at another PRECISION they leave the run, with a note
if [ "$PRECISION" != fp32 ]; then
    keep=""
    for b in $BACKENDS; do
        case "$b" in
        serial | cpu)
            say "genet-rt $b skipped: that backend only does fp32 (PRECISION=$PRECISION)"
            NOTES+=("genet-rt $b not run: that backend only does fp32 (PRECISION=$PRECISION)")
            ;;
        *) keep="$keep $b" ;;
        esac
    done
    BACKENDS=${keep# }
fi

# ---------------------------------------------------------------- machine
GPU=""
if command -v nvidia-smi >/dev/null 2>&1; then
    GPU=$(timeout 20 nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
    timeout 20 nvidia-smi >"$RAW/nvidia-smi.txt" 2>&1 || true
fi
say "genet-rt: $GENET ($(timeout 10 "$GENET" --version 2>&1 | head -n 1))"
say "GPU: ${GPU:-none found}; hand-off ${HANDOFF_US} µs; out $OUT"
timeout 20 "$GENET" --version >"$RAW/genet-version.txt" 2>&1 || true
nproc >"$RAW/nproc.txt" 2>/dev/null || true
lscpu >"$RAW/lscpu.txt" 2>/dev/null || true

HAVE_TORCH=0
if [ "$TORCH" != 0 ]; then
    probe='import sys, torch
if sys.argv[1] == "cuda" and not torch.cuda.is_available(): sys.exit(1)
print(torch.__version__, torch.version.cuda,
      torch.cuda.get_device_name(0) if sys.argv[1] == "cuda" else "cpu")'
    if timeout 120 "$PYTHON" -c "$probe" "$TORCH_DEVICE" >"$RAW/torch-probe.txt" 2>&1; then
        HAVE_TORCH=1
        [ "$TORCH_DEVICE" = cuda ] || NOTES+=("PyTorch on $TORCH_DEVICE: a logic check, not a measurement")
    else
        NOTES+=("PyTorch contenders skipped: $PYTHON has no torch with a $TORCH_DEVICE device")
        say "PyTorch contenders skipped: $PYTHON has no torch with a $TORCH_DEVICE device"
    fi
else
    NOTES+=("PyTorch contenders skipped (TORCH=0)")
fi

# ---------------------------------------------------------------- graphs
say "generating graphs"
if [ "$QUICK" = 1 ]; then
    timeout 120 "$PYTHON" "$HERE/make_graphs.py" "$WORK/graphs" --quick >&2 || die "make_graphs.py failed"
    NOTES+=("QUICK=1: the smallest sweep graph only, few steps: a smoke test, not a measurement")
    CUDA_STEPS=20 CUDA_WARMUP=2
    GROW_GRAPH=sweep-64-32 GROW_MAX=130
else
    timeout 300 "$PYTHON" "$HERE/make_graphs.py" "$WORK/graphs" --only layered deep many sweep >&2 \
        || die "make_graphs.py failed"
    GROW_GRAPH=layered GROW_MAX=2100
fi
MANIFEST="$WORK/graphs/manifest.json"
cp "$MANIFEST" "$RAW/manifest.json"
QFLAG=()
[ "$QUICK" = 1 ] && QFLAG=(--quick)
PLAN=$("$PYTHON" "$HERE/report.py" plan "$MANIFEST" "${QFLAG[@]}") || die "report.py plan failed"
# name file gflop serial_warmup serial_steps cpu_warmup cpu_steps
NAMES=()
declare -A FILE SW SS CW CS
while read -r n f _gf sw ss cw cs; do
    NAMES+=("$n")
    FILE[$n]="$WORK/graphs/$f"
    SW[$n]=$sw SS[$n]=$ss CW[$n]=$cw CS[$n]=$cs
done <<<"$PLAN"

# weights and batch of a workload: written by its first genet-rt run
save_flags() {
    local n=$1
    if [ -s "$WORK/data/$n.w" ] && [ -s "$WORK/data/$n.x" ]; then
        return
    fi
    echo --save-init-weights "$WORK/data/$n.w" --save-batch "$WORK/data/$n.x"
}
declare -A REFJSON  # per workload: the genet-rt JSON whose initial_loss torch must match

# ---------------------------------------------------------------- 1. genet-rt cuda
if has_backend cuda; then
    for n in "${NAMES[@]}"; do
        say "genet-rt cuda: $n ($(elapsed) s)"
        # shellcheck disable=SC2046
        run_to "$RAW/$n.genet-cuda" 180 "$GENET" bench "${FILE[$n]}" --backend cuda \
            --steps "$CUDA_STEPS" --warmup "$CUDA_WARMUP" --precision "$PRECISION" --json \
            $(save_flags "$n")
        if [ "$(cat "$RAW/$n.genet-cuda.rc")" = 0 ] && [ -z "${REFJSON[$n]:-}" ]; then
            REFJSON[$n]="$RAW/$n.genet-cuda.out"
        fi
    done
fi
if [ -n "$GROW_BACKEND" ]; then
    g=${FILE[$GROW_GRAPH]:-}
    # --precision for the cuda (or auto) backend; serial and cpu are fp32 only
    GROW_PREC=(--precision "$PRECISION")
    case "$GROW_BACKEND" in serial | cpu) GROW_PREC=() ;; esac
    if [ -n "$g" ] && [ ${#GROW_PREC[@]} -eq 0 ] && [ "$PRECISION" != fp32 ]; then
        say "growth pair skipped: the $GROW_BACKEND backend only does fp32 (PRECISION=$PRECISION)"
        NOTES+=("growth pair not run: the $GROW_BACKEND backend only does fp32 (PRECISION=$PRECISION)")
    elif [ -n "$g" ]; then
        say "growth pair on $GROW_GRAPH ($GROW_BACKEND) ($(elapsed) s)"
        run_to "$RAW/growth.off" 180 "$GENET" bench "$g" --backend "$GROW_BACKEND" \
            --steps "$CUDA_STEPS" --warmup "$CUDA_WARMUP" "${GROW_PREC[@]}" --json
        run_to "$RAW/growth.on" 180 "$GENET" bench "$g" --backend "$GROW_BACKEND" \
            --steps "$CUDA_STEPS" --warmup "$CUDA_WARMUP" "${GROW_PREC[@]}" --json \
            --grow alternate --grow-every 10 --grow-threshold 0 --max-groups "$GROW_MAX"
    fi
fi

# ---------------------------------------------------------------- 2. serial first where the
# cuda run gave no weights (no GPU): the torch check needs them; and on
# `layered` always, before PyTorch, whose eager runs can spend the time box
# (2026-12-04: the serial column of docs/bench/2026-12-04 is missing so)
serial_run() {
    local n=$1
    if over_budget; then
        skip "$RAW/$n.genet-serial" "not run: the ${TIME_BUDGET_S} s time budget was spent"
        return
    fi
    say "genet-rt serial: $n, ${SS[$n]} timed steps after ${SW[$n]} ($(elapsed) s)"
    # shellcheck disable=SC2046
    run_to "$RAW/$n.genet-serial" 300 "$GENET" bench "${FILE[$n]}" --backend serial \
        --steps "${SS[$n]}" --warmup "${SW[$n]}" --json $(save_flags "$n")
    if [ "$(cat "$RAW/$n.genet-serial.rc")" = 0 ] && [ -z "${REFJSON[$n]:-}" ]; then
        REFJSON[$n]="$RAW/$n.genet-serial.out"
    fi
}
SERIAL_DONE=()
if has_backend serial; then
    for n in "${NAMES[@]}"; do
        if [ -z "${REFJSON[$n]:-}" ] || [ "$n" = layered ]; then
            serial_run "$n"
            SERIAL_DONE+=("$n")
        fi
    done
fi

# ---------------------------------------------------------------- 3. PyTorch
torch_run() {
    local n=$1 key=$2 limit=$3
    shift 3
    if [ "$HAVE_TORCH" != 1 ]; then
        skip "$RAW/$n.$key" "not run: no PyTorch with a $TORCH_DEVICE device"
        return
    fi
    if [ -z "${REFJSON[$n]:-}" ]; then
        skip "$RAW/$n.$key" "not run: no genet-rt run wrote the initial weights"
        return
    fi
    if over_budget; then
        skip "$RAW/$n.$key" "not run: the ${TIME_BUDGET_S} s time budget was spent"
        return
    fi
    say "PyTorch $key: $n ($(elapsed) s)"
    run_to "$RAW/$n.$key" "$limit" "$PYTHON" "$HERE/torch_bench.py" "${FILE[$n]}" \
        "$WORK/data/$n.w" "$WORK/data/$n.x" --genet-json "${REFJSON[$n]}" --name "$n" \
        --budget "$TORCH_BUDGET_S" --device "$TORCH_DEVICE" --precision "$PRECISION" "$@"
}
for n in "${NAMES[@]}"; do
    if [ "$QUICK" = 1 ]; then
        torch_run "$n" torch 240 --warmup 1 --min-steps 2 --steps 5
    else
        torch_run "$n" torch 240 --warmup 2
    fi
done

# ---------------------------------------------------------------- 4. serial, 5. cpu
if has_backend serial; then
    for n in "${NAMES[@]}"; do
        case " ${SERIAL_DONE[*]:-} " in *" $n "*) continue ;; esac
        serial_run "$n"
    done
fi
if has_backend cpu; then
    for n in "${NAMES[@]}"; do
        if over_budget; then
            skip "$RAW/$n.genet-cpu" "not run: the ${TIME_BUDGET_S} s time budget was spent"
            continue
        fi
        say "genet-rt cpu: $n, ${CS[$n]} timed steps after ${CW[$n]} ($(elapsed) s)"
        run_to "$RAW/$n.genet-cpu" 240 "$GENET" bench "${FILE[$n]}" --backend cpu \
            --steps "${CS[$n]}" --warmup "${CW[$n]}" --json
    done
fi

# ---------------------------------------------------------------- 6. torch.compile
# within what is left of the time budget (plus a minute for the report)
for n in $COMPILE; do
    [ -n "${FILE[$n]:-}" ] || continue
    left=$((TIME_BUDGET_S + 60 - $(elapsed)))
    if [ "$left" -lt 90 ]; then
        skip "$RAW/$n.torch-compile" "not run: the ${TIME_BUDGET_S} s time budget was spent"
        continue
    fi
    ct=$COMPILE_TIMEOUT
    [ "$ct" -gt $((left - 60)) ] && ct=$((left - 60))
    torch_run "$n" torch-compile "$left" --only compile --compile --compile-timeout "$ct" --warmup 2
done
[ -z "$COMPILE" ] && NOTES+=("torch.compile not run (COMPILE empty)")

# ---------------------------------------------------------------- report
if [ "$PRECISION" = fp32 ]; then
    NOTES+=("serial and cpu backends are time-boxed: n timed steps after 1 warm-up step, n shown in each cell")
fi
NOTES+=("genet-rt cuda: $CUDA_STEPS timed steps after $CUDA_WARMUP; genet-rt runs on seeded synthetic data cycling through 8 batches, PyTorch repeats the first of them (the same math per step)")
RARGS=(--raw "$RAW" --manifest "$MANIFEST" --out "$OUT" --gpu "$GPU" --handoff-us "$HANDOFF_US"
    --elapsed "$(elapsed)" --growth "$GROW_GRAPH, genet-rt $GROW_BACKEND, $CUDA_STEPS steps after $CUDA_WARMUP; on: --grow alternate --grow-every 10 --grow-threshold 0 --max-groups $GROW_MAX")
[ -n "$PEAK_TFLOPS" ] && RARGS+=(--peak-tflops "$PEAK_TFLOPS")
for m in "${NOTES[@]}"; do RARGS+=(--note "$m"); done
say "report ($(elapsed) s)"
timeout 300 "$PYTHON" "$HERE/report.py" report "${RARGS[@]}" >"$WORK/table.out" 2>"$RAW/report.err" \
    || { cat "$RAW/report.err" >&2; die "report.py failed"; }
say "wrote $OUT/results.json $OUT/table.md$( [ -f "$OUT/speed.png" ] && echo " $OUT/speed.png") in $(elapsed) s"
cat "$WORK/table.out"
if grep -qx 3 "$RAW"/*.torch*.rc 2>/dev/null; then
    say "a PyTorch contender does not compute genet-rt's function: see the notes"
    exit 3
fi
