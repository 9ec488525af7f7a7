#!/usr/bin/env bash
# Prepares what the GPU check (tests/gpu/check.sh) needs on a CUDA machine that has no Qt, no OpenCV C++, no
# CLI11 and no nlohmann-json: run it HERE (the development machine), then carry build-gpu-deps/ over with the
# working tree. It writes, under build-gpu-deps/ (git-ignored: /build*):
#   include/nlohmann, include/CLI   the header-only libraries, copied from /usr/include
#   cmake/                          minimal CMake package configs for them (find_package works as here)
#   bench/                          a small generated benchmark (make-benchmark --records $RECORDS)
#   images.safetensors              its images pre-decoded at 32×32 (pack-images), as the GPU build cannot decode
#   llava-bench/, llava-images.safetensors   for tests/gpu/device.sh: a benchmark of 8 records and its images as
#                                   LLaVA-1.5 takes them (CLIP's 336 px preprocessing: pack-images --model, 1.35 MB an
#                                   image in float32, hence the small benchmark), read by the engine and transformers
#   examples.json                   PO, retain and PD examples as token ids (tests/gpu/make_examples.py)
#   tiny-llava/, golden-images.safetensors   the golden tiny LLaVA folder and its test images (device.sh's check)
# Usage: tests/gpu/prepare.sh [BUILD_DIR]   (BUILD_DIR holds bin/safeeraser; default build-engine, else build)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${1:-}
if [[ -z "$BUILD" ]]; then
    for b in build-engine build; do [[ -x "$b/bin/safeeraser" ]] && BUILD=$b && break; done
fi
CLI="$ROOT/${BUILD:-build}/bin/safeeraser"
[[ -x "$CLI" ]] || { echo "prepare.sh: no safeeraser in ${BUILD:-build}/bin — build it first" >&2; exit 1; }
RECORDS=${RECORDS:-60}
DEPS="$ROOT/build-gpu-deps"
rm -rf "$DEPS"
mkdir -p "$DEPS/include" "$DEPS/cmake"
cp -r /usr/include/nlohmann "$DEPS/include/"
cp -r /usr/include/CLI "$DEPS/include/"
JSON_VERSION=$(sed -n 's/^#define NLOHMANN_JSON_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\).*/\2/p' "$DEPS/include/nlohmann/json.hpp" | paste -sd.)

cat > "$DEPS/cmake/nlohmann_jsonConfig.cmake" <<'CMAKE'
# Minimal package config for the copied header-only nlohmann/json (tests/gpu/prepare.sh).
if(NOT TARGET nlohmann_json::nlohmann_json)
  add_library(nlohmann_json::nlohmann_json INTERFACE IMPORTED)
  set_target_properties(nlohmann_json::nlohmann_json PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${CMAKE_CURRENT_LIST_DIR}/../include")
endif()
set(nlohmann_json_FOUND TRUE)
CMAKE
cat > "$DEPS/cmake/nlohmann_jsonConfigVersion.cmake" <<CMAKE
set(PACKAGE_VERSION "${JSON_VERSION:-3.11.2}")
if(PACKAGE_FIND_VERSION VERSION_GREATER PACKAGE_VERSION)
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
else()
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
endif()
CMAKE
cat > "$DEPS/cmake/CLI11Config.cmake" <<'CMAKE'
# Minimal package config for the copied header-only CLI11 (tests/gpu/prepare.sh).
if(NOT TARGET CLI11::CLI11)
  add_library(CLI11::CLI11 INTERFACE IMPORTED)
  set_target_properties(CLI11::CLI11 PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${CMAKE_CURRENT_LIST_DIR}/../include")
endif()
set(CLI11_FOUND TRUE)
CMAKE

"$CLI" make-benchmark --out "$DEPS/bench" --records "$RECORDS" --image-size 64 >/dev/null
"$CLI" pack-images --data "$DEPS/bench" --out "$DEPS/images.safetensors" --size 32
# LLaVA-1.5's pixels and token ids come from a mid-size folder (the 7B's preprocessing and tokenizer) made here and
# dropped: device.sh writes the model it measures on the machine it measures.
PY3=${PY3:-/usr/bin/python3}
MID=$(mktemp -d)
trap 'rm -rf "$MID"' EXIT
"$PY3" "$ROOT/tests/llava/make_tiny_llava.py" --shape mid "$MID/mid" >/dev/null
"$CLI" make-benchmark --out "$DEPS/llava-bench" --records 8 --image-size 64 >/dev/null
"$CLI" pack-images --data "$DEPS/llava-bench" --model "$MID/mid" --out "$DEPS/llava-images.safetensors"
"$PY3" "$ROOT/tests/gpu/make_examples.py" "$CLI" "$MID/mid" "$DEPS/llava-bench" "$DEPS/llava-images.safetensors" \
    "$DEPS/examples.json"
"$PY3" "$ROOT/tests/llava/make_tiny_llava.py" "$DEPS/tiny-llava" >/dev/null
GOLDEN_IMAGES=()
for f in $("$PY3" -c 'import json, sys; print(" ".join(sorted({c["image"] for c in json.load(open(sys.argv[1]))["cases"]})))' \
           "$ROOT/tests/llava/golden/tiny_llava.json"); do
    GOLDEN_IMAGES+=(--image "tests/llava/images/$f") # keyed as device.sh names them, from the repository root
done
(cd "$ROOT" && "$CLI" pack-images "${GOLDEN_IMAGES[@]}" --model "$DEPS/tiny-llava" --out "$DEPS/golden-images.safetensors")
du -sh "$DEPS"
echo "prepare.sh: carry build-gpu-deps with the working tree, then run tests/gpu/check.sh or tests/gpu/device.sh on the GPU machine"
