#!/usr/bin/env bash
# Installs what is missing, builds everything, and runs every test through CTest. Exits non-zero on any failure.
# Extra arguments go to ctest (for example: ./test.sh -R reader).
#
#   ./test.sh --sanitize [ctest args]   the core and engine tests again, built with AddressSanitizer and
#                                       UndefinedBehaviorSanitizer in build-asan/ (the UI tests are left out: Qt's
#                                       widgets are not what the sanitizers are for here)
#   ./test.sh --libtorch2 [ctest args]  the CLI and the engine tests (the ones with LibTorch) in build-libtorch2/ against
#                                       LibTorch 2.x with CUDA (the reference environment's PyPI torch wheel) and
#                                       the CUDA toolkit's nvcc (CUDACXX, else /usr/local/cuda/bin/nvcc), run on
#                                       the CPU: what a GPU user builds, proven before a GPU runs it
set -euo pipefail
SANITIZE=0
LIBTORCH2=0
if [ "${1:-}" = "--sanitize" ]; then
  SANITIZE=1
  shift
  export SE_BUILD_DIR="${SE_BUILD_DIR:-$(cd "$(dirname "$0")" && pwd)/build-asan}"
elif [ "${1:-}" = "--libtorch2" ]; then
  LIBTORCH2=1
  shift
  export SE_BUILD_DIR="${SE_BUILD_DIR:-$(cd "$(dirname "$0")" && pwd)/build-libtorch2}"
fi
source "$(dirname "$0")/scripts/setup.sh"
# The tests also start a real one-node Slurm (tests/slurm/test_slurm.sh): its daemons and munge; and a virtual
# environment for the reference libraries (scripts/reference_env.sh).
SE_PACKAGES+=(slurm-wlm munge python3-venv)
se_install_packages
# The CLI (tests drive it) and every core and engine test; not the workbench and its widget tests.
mapfile -t SE_CORE_TESTS < <(cd "$SE_ROOT/tests" && ls core/test_*.cpp engine/test_*.cpp | xargs -n1 basename | sed 's/\.cpp$//')
# The engine tests alone: those whose code includes LibTorch (tests/core/ never does).
mapfile -t SE_ENGINE_TESTS < <(cd "$SE_ROOT/tests" && ls engine/test_*.cpp | xargs -n1 basename | sed 's/\.cpp$//')
se_core_tests() { # builds and runs them in $SE_BUILD: $1 what the build is, $2 the tests' names, then ctest's arguments
  local what=$1 tests=$2
  shift 2
  se_configure
  echo "==> Building $what in $SE_BUILD"
  cmake --build "$SE_BUILD" --target safeeraser ${tests}
  echo "==> Running the tests ($what)"
  cd "$SE_BUILD"
  QT_QPA_PLATFORM=offscreen ctest --output-on-failure -j2 -R "^($(echo ${tests} | tr ' ' '|'))\$" "$@"
}
if [ "$SANITIZE" = 1 ]; then
  SE_CMAKE_ARGS=(-DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_FLAGS=-O1 -DSE_SANITIZE=address,undefined -DSE_BUILD_BENCH=OFF)
  # LibTorch and Qt keep allocations until exit by design: leak reports would be theirs, not ours.
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1:detect_odr_violation=0}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
  se_core_tests "with sanitizers (address, undefined)" "${SE_CORE_TESTS[*]}" "$@"
  exit 0
fi
if [ "$LIBTORCH2" = 1 ]; then
  NVCC="${CUDACXX:-/usr/local/cuda/bin/nvcc}"
  [ -x "$NVCC" ] || { echo "error: --libtorch2 compiles the CUDA paths and needs the CUDA toolkit's nvcc ($NVCC); set CUDACXX" >&2; exit 1; }
  "$SE_ROOT/scripts/reference_env.sh" >/dev/null
  TORCH_CMAKE="$("$SE_ROOT/scripts/reference_env.sh" python -c 'import torch; print(torch.utils.cmake_prefix_path)')"
  # Benchmarks configured (built only when asked: tests/gpu/device.sh's rehearsal builds bench_engine_llava here).
  SE_CMAKE_ARGS=(-DCMAKE_BUILD_TYPE=Release -DSE_BUILD_BENCH=ON -DTorch_DIR="$TORCH_CMAKE/Torch"
                 -DCMAKE_CUDA_COMPILER="$NVCC")
  se_core_tests "against LibTorch $("$SE_ROOT/scripts/reference_env.sh" python -c 'import torch; print(torch.__version__)')" \
    "${SE_ENGINE_TESTS[*]}" "$@"
  exit 0
fi
# The reference environment (transformers, PEFT, PyTorch from PyPI: tests only) downloads while the build compiles.
REF_LOG="$(mktemp)"
"$SE_ROOT/scripts/reference_env.sh" >"$REF_LOG" 2>&1 &
REF_PID=$!
se_build
if ! wait "$REF_PID"; then
  cat "$REF_LOG" >&2
  if [ "${SE_REQUIRE_REFERENCE:-0}" = 1 ]; then
    echo "error: the reference environment could not be installed (SE_REQUIRE_REFERENCE=1)" >&2
    exit 1
  fi
  echo "warning: the reference environment could not be installed; the reference_* tests will be skipped" >&2
else
  grep '^==>' "$REF_LOG" || true
fi
rm -f "$REF_LOG"
echo "==> Running the tests"
cd "$SE_BUILD"
QT_QPA_PLATFORM=offscreen ctest --output-on-failure -j2 "$@"
