#!/usr/bin/env bash
# Benchmark (prints numbers; not a test): a mid-size random Qwen2-VL folder (tests/qwen2vl/make_models.py --mid) through
# the engine (bench_engine_llava --quick) and through transformers (bench_reference.py), on the same machine, image and
# threads, one after the other:
#   tests/qwen2vl/bench.sh [BUILD_DIR] [IMAGE]
# The folder (and a 640 x 480 picture, the default image: 391 image tokens) is written once under
# BUILD_DIR/qwen2vl-bench; the reference environment must be installed.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BUILD="${1:-$ROOT/build}"
OUT="$BUILD/qwen2vl-bench"
IMAGE="${2:-$OUT/picture-640x480.png}"
THREADS="$(nproc)"
[ -f "$OUT/qwen2vl-mid/model.safetensors" ] || "$ROOT/tests/reference/run.sh" ../qwen2vl/make_models.py "$OUT" --mid
echo "== the engine (float32, $THREADS threads)"
OMP_NUM_THREADS="$THREADS" "$BUILD/bin/bench_engine_llava" "$OUT/qwen2vl-mid" "$IMAGE" --quick --new-tokens 32 \
    --repeats 3 --dtype float32
echo "== transformers (float32, eager attention, $THREADS threads)"
"$ROOT/tests/reference/run.sh" ../qwen2vl/bench_reference.py "$OUT/qwen2vl-mid" "$IMAGE" --new-tokens 32 --repeats 3 \
    --threads "$THREADS"
