#!/usr/bin/env bash
# Fuzzes the parsers that read what users and peers hand the program, with libFuzzer (Debian's clang-14) under
# AddressSanitizer and UndefinedBehaviorSanitizer: a benchmark split file, an image header, an LLM judge's reply,
# a run configuration, an official results file (tests/fuzz/targets.cpp), and the model files — a safetensors image,
# a LLaVA or Qwen2-VL config.json, a
# shard index (tests/fuzz/modeltargets.cpp; these link the normal build's engine library and LibTorch, building
# build/ first if needed; only their parsers are instrumented). Prints executions and coverage per target; a crash, hang
# (10 s) or out-of-memory (2 GB) input is saved under build-fuzz/findings/TARGET/ and the script exits non-zero.
# Each finding, once fixed, goes to tests/fuzz/regressions/TARGET/, which test_fuzzregressions replays in ./test.sh.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      SECONDS per target (default 60); targets: split imageheader
#                                              judgereply runconfig results safetensors llavaconfig
#                                              qwen2vlconfig shardindex
#                                              (default: all)
#   scripts/fuzz.sh --slow [SECONDS] [TARGET...]   slow-input mode: each target first reads large generated inputs
#                                              (1 MiB runs of separators, invalid UTF-8, nesting, whitespace, escapes,
#                                              quotes, digits) once each under a 10 s -timeout — a reader that is
#                                              quadratic in any of them is a finding — then fuzzes from them with
#                                              inputs up to 1 MiB. (Its linear cost per MB: bench_reader --scaling.)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SLOW=0
if [ "${1:-}" = "--slow" ]; then
  SLOW=1
  shift
fi
SECS=${1:-60}
[ $# -gt 0 ] && shift
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(split imageheader judgereply runconfig results safetensors llavaconfig qwen2vlconfig shardindex)
MODEL_TARGETS=" safetensors llavaconfig qwen2vlconfig shardindex "
OUT="$ROOT/build-fuzz"
CXX=${CXX_FUZZ:-clang++-14}
if ! command -v "$CXX" >/dev/null; then
  echo "==> Installing clang-14 (libFuzzer)"
  sudo=""; [ "$(id -u)" != 0 ] && sudo=sudo
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq clang-14
fi

FLAGS=(-std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all -I"$ROOT")
SOURCES=(core/data/benchmark.cpp core/data/imageheader.cpp core/data/sha256.cpp core/data/pathguard.cpp core/util/text.cpp
         core/data/nocv/imagedecode_nocv.cpp
         core/data/officialresults.cpp core/store/records.cpp
         core/metrics/evaluation.cpp core/metrics/textmetrics.cpp core/metrics/llmjudge.cpp core/metrics/judgeprompts.cpp
         core/unlearn/method.cpp core/unlearn/settings.cpp core/unlearn/runconfig.cpp tests/fuzz/targets.cpp)
MODEL_SOURCES=(core/model/safetensors.cpp core/model/llavaconfig.cpp core/model/qwen2vlconfig.cpp core/model/hfweights.cpp
               core/model/smallfile.cpp
               tests/fuzz/modeltargets.cpp)
TORCH_FLAGS=(-isystem /usr/include/torch/csrc/api/include -D_GLIBCXX_USE_CXX11_ABI=1 -Wno-deprecated-declarations)
mkdir -p "$OUT/obj"
objectOf() { echo "$OUT/obj/$(echo "$1" | tr / _).o"; }
compile() { # source [extra flags…], in the background, when the object is older than its inputs
  local s=$1 o
  shift
  o=$(objectOf "$s")
  if [ ! -f "$o" ] || [ "$ROOT/$s" -nt "$o" ] || [ -n "$(find "$ROOT/core" "$ROOT/tests/fuzz" -name '*.h' -newer "$o" -print -quit)" ]; then
    "$CXX" "${FLAGS[@]}" "$@" -fsanitize=fuzzer-no-link -c "$ROOT/$s" -o "$o" &
    while [ "$(jobs -rp | wc -l)" -ge "$(nproc)" ]; do wait -n; done
  fi
}
echo "==> Compiling the parsers with coverage and sanitizers ($CXX)"
OBJS=()
for s in "${SOURCES[@]}"; do compile "$s"; OBJS+=("$(objectOf "$s")"); done
MODEL_OBJS=()
need_model=0
for t in "${TARGETS[@]}"; do [[ "$MODEL_TARGETS" == *" $t "* ]] && need_model=1; done
if [ "$need_model" = 1 ]; then
  for s in "${MODEL_SOURCES[@]}"; do compile "$s" "${TORCH_FLAGS[@]}"; MODEL_OBJS+=("$(objectOf "$s")"); done
  wait
  echo "==> The engine library the model targets link (build/)"
  # shellcheck source=setup.sh
  source "$ROOT/scripts/setup.sh"
  se_build --target se_engine >/dev/null
fi
wait

status=0
printf '\n%-12s %12s %10s %8s %8s  %s\n' target executions "exec/s" cov ft findings
for t in "${TARGETS[@]}"; do
  bin="$OUT/fuzz_$t"
  if [[ "$MODEL_TARGETS" == *" $t "* ]]; then
    B="${SE_BUILD:-$ROOT/build}"
    "$CXX" "${FLAGS[@]}" "${TORCH_FLAGS[@]}" -fsanitize=fuzzer -DSE_FUZZ_MODEL -DSE_FUZZ_TARGET="$t" \
      "$ROOT/tests/fuzz/fuzz_main.cpp" "${OBJS[@]}" "${MODEL_OBJS[@]}" "$B/core/libse_engine.a" "$B/core/libse_data.a" \
      -ltorch -ltorch_cpu -lc10 -lopencv_imgcodecs -lopencv_imgproc -lopencv_core -lsqlite3 -lcurl -lpthread -ldl \
      -o "$bin"
  else
    "$CXX" "${FLAGS[@]}" -fsanitize=fuzzer -DSE_FUZZ_TARGET="$t" "$ROOT/tests/fuzz/fuzz_main.cpp" "${OBJS[@]}" \
      -lcurl -o "$bin"
  fi
  corpus="$OUT/corpus/$t"
  mkdir -p "$corpus" "$OUT/findings/$t"
  for d in "$ROOT/tests/fuzz/seeds/$t" "$ROOT/tests/fuzz/regressions/$t"; do
    [ -d "$d" ] && cp -n "$d"/* "$corpus"/ 2>/dev/null || true
  done
  log="$OUT/$t.log"
  MAX_LEN=65536
  if [ "$SLOW" = 1 ]; then
    corpus="$OUT/slow/$t"
    mkdir -p "$corpus"
    /usr/bin/python3 - "$corpus" <<'PY'
import os, sys
out, n = sys.argv[1], 1 << 20
shapes = {
    "commas": b"[" + b"," * n + b"]", "braces": b"[" + b"}" * n + b"]", "open-nesting": b"[" * n,
    "nesting-in-record": b'[{"a": ' + b"[" * (n // 2) + b"]" * (n // 2) + b"}]",
    "invalid-utf8": b'[{"image_path": "' + b"\xff" * n + b'"}]',
    "truncated-utf8": b'[{"image_path": "' + b"\xe2\x82" * (n // 2) + b'"}]',
    "whitespace": b"[" + b" " * n + b"]", "newlines": b"\n" * n, "escapes": b'{"q": "' + b"\\u0041" * (n // 6) + b'"}',
    "backslashes": b'{"q": "' + b"\\" * n + b'"}', "quotes": b'"' * n, "digits": b"1" * n,
    "keys": b"{" + b'"k":1,' * (n // 6) + b'"k":1}', "colons": b'{"a"' + b":" * n + b"}",
}
for name, data in shapes.items():
    with open(os.path.join(out, "slow-" + name), "wb") as f:
        f.write(data)
PY
    MAX_LEN=$((1 << 20))
    echo "==> $t: reading $(ls "$corpus" | wc -l) inputs of 1 MiB once each (-timeout=10)"
    if ! "$bin" -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$OUT/findings/$t/" "$corpus"/slow-* \
         >"$OUT/$t.slow.log" 2>&1; then
      echo "$t: a slow input is a finding: see $OUT/$t.slow.log and $OUT/findings/$t/"
      status=1
    fi
  fi
  if "$bin" "$corpus" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -max_len="$MAX_LEN" \
       -artifact_prefix="$OUT/findings/$t/" -print_final_stats=1 >"$log" 2>&1; then
    found=0
  else
    found=$(ls "$OUT/findings/$t" | wc -l)
    [ "$found" = 0 ] && found="error (see $log)"
    status=1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  printf '%-12s %12s %10s %8s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$found"
done
exit $status
