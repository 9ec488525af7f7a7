#!/usr/bin/env bash
# The GPU check of the engine (issue 3): builds the engine and the CLI against the CUDA LibTorch of the
# machine's python3 torch (no Qt, no OpenCV, no benchmarks), then runs a short vanilla training and a PO+PD
# unlearning run from pre-decoded images on the GPU and on the CPU, and prints steps/s of each.
# Needs build-gpu-deps/ from tests/gpu/prepare.sh (run on the development machine and carried over).
# Usage: tests/gpu/check.sh        env: STEPS (vanilla steps on the GPU, default 300), CPU_STEPS (default 40),
#                                       UNLEARN_STEPS (default 60), JOBS (build jobs, default nproc)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DEPS="$ROOT/build-gpu-deps"
BUILD="$ROOT/build-gpu"
STEPS=${STEPS:-300}
CPU_STEPS=${CPU_STEPS:-40}
UNLEARN_STEPS=${UNLEARN_STEPS:-60}
JOBS=${JOBS:-$(nproc)}
[[ -f "$DEPS/images.safetensors" && -d "$DEPS/bench" ]] || { echo "check.sh: run tests/gpu/prepare.sh first (build-gpu-deps missing)" >&2; exit 1; }

PY=${PYTHON:-python3}
TORCH_PREFIX=$($PY -c 'import torch; print(torch.utils.cmake_prefix_path)')
# The whole project must use the C++ ABI the LibTorch wheel was built with (std::string crosses se_data/se_engine).
ABI=$($PY -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
$PY -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())'
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || true

GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)
cmake -S "$ROOT" -B "$BUILD" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DSE_BUILD_UI=OFF -DSE_WITH_OPENCV=OFF -DSE_BUILD_BENCH=OFF \
    `# the flags ./test.sh --libtorch2 proves in CI against PyPI's LibTorch 2.x with CUDA (unity build on)` \
    -DTorch_DIR="$TORCH_PREFIX/Torch" -DCMAKE_PREFIX_PATH="$DEPS/cmake" \
    ${CUDACXX:+-DCMAKE_CUDA_COMPILER="$CUDACXX"} \
    -DCMAKE_CXX_FLAGS="-D_GLIBCXX_USE_CXX11_ABI=$ABI" >"$BUILD.configure.log" 2>&1 \
    || { tail -40 "$BUILD.configure.log"; exit 1; }
cmake --build "$BUILD" --target safeeraser -j "$JOBS" >"$BUILD.build.log" 2>&1 || { tail -60 "$BUILD.build.log"; exit 1; }
CLI="$BUILD/bin/safeeraser"
OUT=${OUT_DIR:-$BUILD/out}
mkdir -p "$OUT"
IMG=(--images "$DEPS/images.safetensors")

rate() { # "… finished after N steps in S s …" → N/S
    sed -n 's/.*after \([0-9]*\) steps in \([0-9.]*\) s.*/\1 \2/p' "$1" | awk '{ if ($2 > 0) printf "%.2f", $1 / $2; else print "?" }'
}
run() { # name, then the command; keeps its output in $OUT/name.log
    local name=$1; shift
    echo "== $name: $*" | sed "s|$ROOT/||g"
    "$@" >"$OUT/$name.log" 2>&1 || { tail -20 "$OUT/$name.log"; echo "check.sh: $name failed" >&2; exit 1; }
    grep -E "finished|diverged|cancelled" "$OUT/$name.log" || true
}

run vanilla-cuda "$CLI" train-vanilla --data "$DEPS/bench" "${IMG[@]}" --device cuda --steps "$STEPS" --out "$OUT/vanilla.safetensors"
run vanilla-cpu "$CLI" train-vanilla --data "$DEPS/bench" "${IMG[@]}" --device cpu --steps "$CPU_STEPS" --out "$OUT/vanilla-cpu.safetensors"
run unlearn-cuda "$CLI" unlearn --data "$DEPS/bench" "${IMG[@]}" --device cuda --model "$OUT/vanilla.safetensors" \
    --method po --pd --steps "$UNLEARN_STEPS" --out "$OUT/po-pd.safetensors"
run unlearn-cpu "$CLI" unlearn --data "$DEPS/bench" "${IMG[@]}" --device cpu --model "$OUT/vanilla.safetensors" \
    --method po --pd --steps "$((UNLEARN_STEPS / 3))" --out "$OUT/po-pd-cpu.safetensors"
run unlearn-cuda-lora "$CLI" unlearn --data "$DEPS/bench" "${IMG[@]}" --device cuda --model "$OUT/vanilla.safetensors" \
    --method dpo --pd --lora-rank 16 --steps 20 --out "$OUT/dpo-lora.safetensors"

FIRST=$(sed -n 's/.*"image_path": "\([^"]*\)".*/\1/p' "$DEPS/bench/all_train.json" | head -1)
QUESTION=$(sed -n 's/.*"question": "\([^"]*\)".*/\1/p' "$DEPS/bench/all_train.json" | head -1)
for m in vanilla po-pd; do
    ans=$("$CLI" ask --device cuda "${IMG[@]}" --model "$OUT/$m.safetensors" --image "$DEPS/bench/$FIRST" --question "$QUESTION" --greedy)
    echo "ask [$m] $FIRST: $QUESTION -> $ans"
done
"$CLI" quick-eval --device cuda "${IMG[@]}" --model "$OUT/po-pd.safetensors" --data "$DEPS/bench" --val || true

echo "== steps/s (batch 32)"
echo "vanilla  GPU $(rate "$OUT/vanilla-cuda.log")  CPU $(rate "$OUT/vanilla-cpu.log")"
echo "po+pd    GPU $(rate "$OUT/unlearn-cuda.log")  CPU $(rate "$OUT/unlearn-cpu.log")"
