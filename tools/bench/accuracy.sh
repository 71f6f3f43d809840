#!/usr/bin/env bash
# Fashion-MNIST test accuracy of genet-rt against a traditional network:
#
#   tools/bench/accuracy.sh [GENET_RT [DATA [OUT_DIR]]]
#
#   (a) genet-rt grown from one hidden group: `genet-rt train DATA --json`
#       with the default options (inputs standardized, SGD momentum 0.9,
#       lr 0.05 with a 200-step warmup and a cosine decay, batch 128,
#       weight decay 1e-3, 10 epochs, growth width) plus GROWN_OPTS, the
#       grown graph saved;
#   (b) a traditional MLP in PyTorch, 2 hidden layers of the width (a
#       multiple of 32) whose parameter count is nearest to the mean of
#       (a)'s final networks, the same optimizer and schedule;
#   (c) the same MLP as a genet-rt graph file, `--grow off`.
# Each for every seed in SEEDS; writes OUT_DIR/accuracy.md, accuracy.json
# and accuracy.png (learning curves); raw logs in OUT_DIR/accuracy-raw.
# The table is printed last.
#
# Environment (arguments win over GENET, DATA and OUT):
#   GENET     genet-rt binary (default .carry/bin/genet-rt)
#   DATA      directory of the four Fashion-MNIST IDX files, raw or .gz
#             (default .carry/fashion-mnist)
#   OUT       output directory (default docs/bench)
#   LIBDIR    added to LD_LIBRARY_PATH (default .carry/lib, if present)
#   PYTHON    python3 with torch (and matplotlib for the plot)
#   SEEDS     default "1 2 3"
#   EPOCHS    default 10 (genet-rt's default; passed to all three)
#   BACKEND   genet-rt backend (default auto: cuda where a GPU is usable)
#   TORCH_DEVICE  cuda or cpu (default: cuda where torch sees one)
#   MLP_LAYERS    hidden layers of the MLP (default 2)
#   BATCH, WEIGHT_DECAY  passed to all three (defaults 128 and 1e-3:
#             genet-rt's defaults)
#   GROWN_OPTS    more genet-rt options for (a) only, e.g. a recipe's
#             "--grow-every 100 --grow-noise 0.1" (word-split)
#   TORCH_INIT    he (default: the same rule as genet-rt's groups) or torch
#   LIMIT_TRAIN   use only the first N training examples (smoke tests)
#   RUN_TIMEOUT   seconds one training run may take (default 300)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/tools/bench"
GENET=${1:-${GENET:-.carry/bin/genet-rt}}
DATA=${2:-${DATA:-.carry/fashion-mnist}}
OUT=${3:-${OUT:-docs/bench}}
PYTHON=${PYTHON:-python3}
SEEDS=${SEEDS:-1 2 3}
EPOCHS=${EPOCHS:-10}
BACKEND=${BACKEND:-auto}
MLP_LAYERS=${MLP_LAYERS:-2}
BATCH=${BATCH:-128}
WEIGHT_DECAY=${WEIGHT_DECAY:-1e-3}
GROWN_OPTS=${GROWN_OPTS:-}
TORCH_INIT=${TORCH_INIT:-he}
LIMIT_TRAIN=${LIMIT_TRAIN:-}
RUN_TIMEOUT=${RUN_TIMEOUT:-300}

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'accuracy.sh: %s\n' "$*" >&2; exit 1; }

[ -x "$GENET" ] || die "no genet-rt binary at '$GENET' (first argument or GENET=)"
[ -d "$DATA" ] || die "no dataset directory at '$DATA' (second argument or DATA=)"
LIBDIR=${LIBDIR:-$ROOT/.carry/lib}
[ -d "$LIBDIR" ] && export LD_LIBRARY_PATH="$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
mkdir -p "$OUT" || die "cannot create $OUT"
RAW="$OUT/accuracy-raw"
rm -rf "$RAW" "$OUT/accuracy.png"
mkdir -p "$RAW"
T0=$(date +%s)
TRAIN_OPTS=(--epochs "$EPOCHS" --batch "$BATCH" --weight-decay "$WEIGHT_DECAY" --backend "$BACKEND"
    --quiet --stats-interval 0)
[ -n "$LIMIT_TRAIN" ] && TRAIN_OPTS+=(--limit-train "$LIMIT_TRAIN")

# (a) grown from one hidden group, default options
for s in $SEEDS; do
    say "(a) genet-rt grown, seed $s ($(( $(date +%s) - T0 )) s)"
    # shellcheck disable=SC2086
    timeout "$RUN_TIMEOUT" "$GENET" train "$DATA" --json --seed "$s" "${TRAIN_OPTS[@]}" $GROWN_OPTS \
        --save-graph "$RAW/grown.seed$s.graph.json" >"$RAW/grown.seed$s.out" 2>"$RAW/grown.seed$s.err" \
        || say "  failed: $(tail -n 1 "$RAW/grown.seed$s.err")"
done

# the MLP: parameter count nearest to the grown networks' mean
mapfile -t PARAMS < <(for s in $SEEDS; do
    g="$RAW/grown.seed$s.graph.json"
    [ -s "$g" ] && "$PYTHON" "$HERE/accuracy.py" params "$g"
done)
[ ${#PARAMS[@]} -gt 0 ] || die "no grown network to size the MLP from (see $RAW)"
MEAN=$(( ( $(IFS=+; echo "${PARAMS[*]}") ) / ${#PARAMS[@]} ))
read -r MLP_GROUPS UNITS MLP_PARAMS < <("$PYTHON" "$HERE/accuracy.py" shape --target "$MEAN" --layers "$MLP_LAYERS")
say "grown networks: ${PARAMS[*]} parameters (mean $MEAN); MLP 784-$UNITS x $MLP_LAYERS-10: $MLP_PARAMS"
"$PYTHON" "$HERE/make_graphs.py" "$RAW" --only mlp --mlp-layers "$MLP_LAYERS" --mlp-groups "$MLP_GROUPS" \
    >&2 || die "make_graphs.py failed"

# (c) the MLP in genet-rt, growth off; pools sized for the graph (a wide
# MLP has more edges than the default pools hold)
MAXG=$(( MLP_GROUPS * MLP_LAYERS + 8 ))
[ "$MAXG" -lt 64 ] && MAXG=64
POOLS=(--max-groups "$MAXG" --max-edges $(( MLP_GROUPS * MLP_GROUPS * MLP_LAYERS + 4 * MLP_GROUPS + 64 ))
    --max-params $(( MLP_PARAMS * 2 + 100000 )))
for s in $SEEDS; do
    say "(c) genet-rt MLP graph, seed $s ($(( $(date +%s) - T0 )) s)"
    timeout "$RUN_TIMEOUT" "$GENET" train "$DATA" --json --seed "$s" "${TRAIN_OPTS[@]}" --graph "$RAW/mlp.json" \
        --grow off "${POOLS[@]}" >"$RAW/genet-mlp.seed$s.out" 2>"$RAW/genet-mlp.seed$s.err" \
        || say "  failed: $(tail -n 1 "$RAW/genet-mlp.seed$s.err")"
    cp "$RAW/mlp.json" "$RAW/genet-mlp.seed$s.graph.json"
done

# (b) the MLP in PyTorch
TORCH_OPTS=(--units "$UNITS" --layers "$MLP_LAYERS" --epochs "$EPOCHS" --init "$TORCH_INIT"
    --batch "$BATCH" --weight-decay "$WEIGHT_DECAY")
[ -n "${TORCH_DEVICE:-}" ] && TORCH_OPTS+=(--device "$TORCH_DEVICE")
[ -n "$LIMIT_TRAIN" ] && TORCH_OPTS+=(--limit-train "$LIMIT_TRAIN")
for s in $SEEDS; do
    say "(b) PyTorch MLP, seed $s ($(( $(date +%s) - T0 )) s)"
    timeout "$RUN_TIMEOUT" "$PYTHON" "$HERE/accuracy.py" torch "$DATA" "${TORCH_OPTS[@]}" --seed "$s" \
        --out "$RAW/torch-mlp.seed$s.out" 2>"$RAW/torch-mlp.seed$s.err" \
        || say "  failed: $(tail -n 1 "$RAW/torch-mlp.seed$s.err")"
done

GPU=""
command -v nvidia-smi >/dev/null 2>&1 &&
    GPU=$(timeout 20 nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
"$PYTHON" - "$RAW/meta.json" <<EOF
import json, sys
json.dump({"seeds": "$SEEDS".split(), "epochs": $EPOCHS, "mlp_layers": $MLP_LAYERS,
           "batch": $BATCH, "weight_decay": $WEIGHT_DECAY, "grown_opts": "$GROWN_OPTS",
           "mlp_groups": $MLP_GROUPS, "mlp_units": $UNITS, "mlp_params": $MLP_PARAMS,
           "grown_params": [int(p) for p in "${PARAMS[*]}".split()], "grown_params_mean": $MEAN,
           "torch_init": "$TORCH_INIT", "gpu": "$GPU", "backend": "$BACKEND",
           "limit_train": "$LIMIT_TRAIN" or None,
           "seconds": $(( $(date +%s) - T0 ))}, open(sys.argv[1], "w"), indent=1)
EOF
say "report ($(( $(date +%s) - T0 )) s)"
"$PYTHON" "$HERE/accuracy.py" report --runs "$RAW" --out "$OUT"
