#!/usr/bin/env bash
# The device comparison (issue 28): on one machine, the engine beside transformers + PEFT, in one table.
#   build     the engine and the CLI against the machine's python3 torch (LibTorch 2.x with CUDA), the flags
#             tests/gpu/check.sh uses (no Qt, no OpenCV: images come packed), ccache off
#   model     a random LLaVA-1.5-7B-shaped folder written on the machine (tests/llava/make_tiny_llava.py, numpy; the
#             hub's naming, BF16, three shards, 13.2 GiB), while the build compiles; --shape mid for a rehearsal
#   golden    the golden tiny LLaVA (tests/llava/golden/tiny_llava.json, float32 values from transformers) scored on
#             the device: bfloat16 on CUDA within 0.5 of each log-probability, float32 on the CPU within 1e-4
#   train     PO+PD, LoRA r 32 / alpha 256 on the seven projections, projector trained, activation checkpointing,
#             micro-batch 1 and 2: median seconds per optimiser step (steps after the first) and peak memory (CUDA
#             allocator / peak resident), the engine (safeeraser unlearn) and transformers + PEFT
#             (tests/gpu/reference_bench.py) on the same examples and pixels
#   generate  greedy new tokens/s, exactly --new-tokens per answer: batch 1 (as the official ckpt_infer.py) and
#             batched, the engine (bench_engine_llava --generation-only: KV cache, left padding) and model.generate
#   nccl      a two-rank NCCL unlearning run where the machine has two GPUs (one process per GPU), else skipped
# Needs build-gpu-deps/ from tests/gpu/prepare.sh (made on the development machine, carried with the tree). A phase
# that fails is reported in the table and the others go on; the exit status is 1 when any failed.
# Usage: tests/gpu/device.sh [--device cuda|cpu] [--shape 7b|mid] [--build DIR] [--steps N] [--new-tokens N]
#                            [--gen-batch N] [--model DIR]
#   The CPU rehearsal CI runs: tests/gpu/device.sh --device cpu --shape mid --build build-libtorch2 --steps 2 ...
#   env: PYTHON (default python3: torch, transformers, peft, numpy), JOBS (build jobs), OUT (logs and the table;
#        default BUILD/device)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DEPS="$ROOT/build-gpu-deps"
DEVICE=cuda SHAPE=7b BUILD="$ROOT/build-gpu" STEPS=6 NEW_TOKENS=32 GEN_BATCH=8 MODEL=""
while [[ $# -gt 0 ]]; do
    case $1 in
    --device) DEVICE=$2 ;;
    --shape) SHAPE=$2 ;;
    --build) BUILD=$(cd "$(dirname "$2")" && pwd)/$(basename "$2") ;;
    --steps) STEPS=$2 ;;
    --new-tokens) NEW_TOKENS=$2 ;;
    --gen-batch) GEN_BATCH=$2 ;;
    --model) MODEL=$2 ;;
    *) echo "device.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift 2
done
[[ $DEVICE == cuda || $DEVICE == cpu ]] || { echo "device.sh: --device is cuda or cpu" >&2; exit 2; }
[[ -f "$DEPS/examples.json" && -f "$DEPS/llava-images.safetensors" && -d "$DEPS/tiny-llava" ]] ||
    { echo "device.sh: run tests/gpu/prepare.sh first (build-gpu-deps is missing or old)" >&2; exit 1; }
PY=${PYTHON:-python3}
JOBS=${JOBS:-$(nproc)}
OUT=${OUT:-$BUILD/device}
mkdir -p "$OUT"
MODEL=${MODEL:-$BUILD/llava-$SHAPE}
DTYPE=$([[ $DEVICE == cuda ]] && echo bfloat16 || echo float32) # what the engine's plan picks for each
TABLE="$OUT/table.md"
FAILED=0
T0=$SECONDS
say() { echo "[device.sh $((SECONDS - T0)) s] $*"; }
row() { echo "$*" >>"$TABLE.rows"; }
fail() { # phase, reason
    FAILED=1
    row "| $1 | failed | $2 |"
    say "$1 FAILED: $2"
}
: >"$TABLE.rows"
reference_rows() { # tests/gpu/reference_bench.py's JSON lines → table rows
    $PY - "$1" >>"$TABLE.rows" <<'PYEOF'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["what"] == "train":
        print(f"| train PO+PD micro-batch {r['micro_batch']}, transformers + PEFT | {r['median_step_s']:.3f} s/step | "
              f"peak {r['peak_bytes'] / 2**30:.2f} GiB |")
    elif r["what"] == "generate":
        print(f"| generate batch {r['batch']}, transformers model.generate | {r['tokens_per_s']:.1f} new tokens/s | |")
PYEOF
}

$PY -c 'import torch, transformers, peft; print("torch", torch.__version__, "cuda", torch.version.cuda, "available",
torch.cuda.is_available(), "transformers", transformers.__version__, "peft", peft.__version__)' | tee "$OUT/versions.txt"
GPUS=0
if [[ $DEVICE == cuda ]]; then
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee -a "$OUT/versions.txt" || true
    GPUS=$(nvidia-smi -L 2>/dev/null | wc -l || echo 0)
fi

# The model folder is written (one core, numpy) while the engine compiles (the others).
if [[ ! -f "$MODEL/config.json" ]]; then
    say "writing a random $SHAPE LLaVA folder at $MODEL"
    ($PY "$ROOT/tests/llava/make_tiny_llava.py" --shape "$SHAPE" --naming v4 --dtype bf16 --shards 3 "$MODEL" \
        >"$OUT/model.log" 2>&1 || { rm -rf "$MODEL"; exit 1; }) &
    MODEL_PID=$!
else
    MODEL_PID=""
fi

say "building in $BUILD"
if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
    TORCH_PREFIX=$($PY -c 'import torch; print(torch.utils.cmake_prefix_path)')
    ABI=$($PY -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
    GEN=()
    command -v ninja >/dev/null && GEN=(-G Ninja)
    NVCC=${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
    cmake -S "$ROOT" -B "$BUILD" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release \
        -DSE_BUILD_UI=OFF -DSE_WITH_OPENCV=OFF -DSE_BUILD_BENCH=ON \
        -DTorch_DIR="$TORCH_PREFIX/Torch" -DCMAKE_PREFIX_PATH="$DEPS/cmake" \
        $([[ -x $NVCC ]] && echo "-DCMAKE_CUDA_COMPILER=$NVCC") \
        -DCMAKE_CXX_FLAGS="-D_GLIBCXX_USE_CXX11_ABI=$ABI" >"$OUT/configure.log" 2>&1 ||
        { tail -40 "$OUT/configure.log"; echo "device.sh: configure failed" >&2; exit 1; }
fi
CCACHE_DISABLE=1 cmake --build "$BUILD" --target safeeraser bench_engine_llava -j "$JOBS" >"$OUT/build.log" 2>&1 ||
    { grep -E "error|Error" "$OUT/build.log" | head -30; tail -20 "$OUT/build.log"; echo "device.sh: build failed" >&2; exit 1; }
CLI="$BUILD/bin/safeeraser"
BENCH="$BUILD/bin/bench_engine_llava"
say "built"

# Golden values on the device.
GOLDEN_TOL=$([[ $DEVICE == cuda ]] && echo 0.5 || echo 1e-4)
if $PY - "$CLI" "$DEPS" "$DEVICE" "$DTYPE" "$GOLDEN_TOL" >"$OUT/golden.log" 2>&1 <<'PYEOF'; then
import json, subprocess, sys
cli, deps, device, dtype, tol = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
golden = json.load(open("tests/llava/golden/tiny_llava.json"))
worst = 0.0
for c in golden["cases"]:
    p = subprocess.run([cli, "score", "--model", f"{deps}/tiny-llava", "--images", f"{deps}/golden-images.safetensors",
                        "--image", "tests/llava/images/" + c["image"], "--question", c["question"], "--answer",
                        c["answer"], "--device", device, "--dtype", dtype, "--json"], capture_output=True, text=True)
    if p.returncode:
        raise SystemExit(p.stderr)
    got = json.loads(p.stdout)
    if got["input_ids"] != c["input_ids"]:
        raise SystemExit(f"{c['image']}: input ids differ from transformers'")
    worst = max([worst] + [abs(a - b) for a, b in zip(got["logprobs"], c["logprobs"])])
print(f"{len(golden['cases'])} cases, largest log-probability difference {worst:.2e} (tolerance {tol:g})")
sys.exit(0 if worst <= tol else 1)
PYEOF
    row "| golden tiny LLaVA, $DTYPE on $DEVICE | passed | $(tail -1 "$OUT/golden.log") |"
else
    fail "golden tiny LLaVA, $DTYPE on $DEVICE" "$(tail -1 "$OUT/golden.log")"
fi

if [[ -n $MODEL_PID ]]; then
    say "waiting for the model folder"
    wait "$MODEL_PID" || { tail -20 "$OUT/model.log"; echo "device.sh: writing the model failed" >&2; exit 1; }
fi
say "model folder ready ($(du -sh "$MODEL" | cut -f1))"

IMAGES=(--images "$DEPS/llava-images.safetensors")
# The engine's PO+PD steps: micro-batch 1 and 2 (one optimiser step each), activation checkpointing.
for MB in 1 2; do
    LOG="$OUT/engine-train-mb$MB.log"
    if "$CLI" unlearn --model "$MODEL" --data "$DEPS/llava-bench" "${IMAGES[@]}" --device "$DEVICE" --method po --pd \
        --lora-rank 32 --lora-alpha 256 --batch "$MB" --checkpoint-layers --steps "$STEPS" --lr 1e-4 \
        --out "$OUT/engine-adapter-mb$MB" >"$LOG" 2>&1; then
        line=$(grep "^unlearn: finished" "$LOG")
        step=$(sed -n 's/.*median step \([0-9.]*\) s.*/\1/p' <<<"$line")
        peak=$(sed -n 's/.*, \(CUDA allocator peak\|peak resident memory\) \([0-9.]*\) GiB.*/\2/p' <<<"$line")
        row "| train PO+PD micro-batch $MB, engine | $step s/step | peak $peak GiB |"
    else
        fail "train PO+PD micro-batch $MB, engine" "$(tail -1 "$LOG")"
    fi
    rm -rf "$OUT/engine-adapter-mb$MB"
done
say "engine training done"

REF=(--model "$MODEL" --examples "$DEPS/examples.json" --pixels "$DEPS/llava-images.safetensors" --device "$DEVICE"
     --dtype "$DTYPE" --steps "$STEPS" --gen-batch "$GEN_BATCH" --new-tokens "$NEW_TOKENS")
reference() { # what (train, generate), the phase's name: transformers + PEFT, its rows or why it failed
    if $PY "$ROOT/tests/gpu/reference_bench.py" "${REF[@]}" --what "$1" >"$OUT/reference-$1.jsonl" \
        2>"$OUT/reference-$1.log"; then
        reference_rows "$OUT/reference-$1.jsonl"
    else
        fail "$2" "$(tail -1 "$OUT/reference-$1.log")"
    fi
}
reference train "train PO+PD, transformers + PEFT"
say "reference training done"

LOG="$OUT/engine-generate.log"
if "$BENCH" "$MODEL" "$(sed -n 's/.*"image_path": "\([^"]*\)".*/\1/p' "$DEPS/llava-bench/all_train.json" | head -1)" \
    --generation-only "${IMAGES[@]}" --device "$DEVICE" --batch "$GEN_BATCH" --new-tokens "$NEW_TOKENS" \
    --repeats 1 >"$LOG" 2>&1; then
    sed -n 's/^generation batch \([0-9]*\): .*: \([0-9.]*\) new tokens\/s$/| generate batch \1, engine (KV cache) | \2 new tokens\/s | |/p' \
        "$LOG" >>"$TABLE.rows"
else
    fail "generate, engine" "$(tail -1 "$LOG")"
fi
reference generate "generate, transformers"
say "generation done"

if [[ $GPUS -ge 2 ]]; then
    LOGS=()
    for RANK in 0 1; do
        RANK=$RANK LOCAL_RANK=$RANK WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=29517 \
            "$CLI" unlearn --model "$MODEL" --data "$DEPS/llava-bench" "${IMAGES[@]}" --device cuda --method po --pd \
            --lora-rank 32 --lora-alpha 256 --batch 1 --grad-accum 2 --checkpoint-layers --steps "$STEPS" --lr 1e-4 \
            --out "$OUT/engine-adapter-nccl" >"$OUT/nccl-rank$RANK.log" 2>&1 &
        LOGS+=($!)
    done
    if wait "${LOGS[0]}" && wait "${LOGS[1]}"; then
        row "| train PO+PD, 2 ranks (NCCL), engine | $(grep -h "^data-parallel:" "$OUT/nccl-rank0.log" | head -1) | |"
    else
        fail "train PO+PD, 2 ranks (NCCL), engine" "$(tail -1 "$OUT/nccl-rank0.log") / $(tail -1 "$OUT/nccl-rank1.log")"
    fi
    rm -rf "$OUT/engine-adapter-nccl"
else
    row "| train PO+PD, 2 ranks (NCCL), engine | skipped | $GPUS GPU$([[ $GPUS == 1 ]] || echo s) on this machine |"
fi

{
    echo "Device comparison ($DEVICE, $SHAPE model, $DTYPE, $STEPS steps, $NEW_TOKENS new tokens, batch $GEN_BATCH):"
    echo "$(head -1 "$OUT/versions.txt")$([[ $DEVICE == cuda ]] && echo "; $(sed -n 2p "$OUT/versions.txt")")"
    echo
    echo "| what | result | |"
    echo "|---|---|---|"
    cat "$TABLE.rows"
} >"$TABLE"
rm -f "$TABLE.rows"
cat "$TABLE"
say "done; logs in $OUT"
exit $FAILED
