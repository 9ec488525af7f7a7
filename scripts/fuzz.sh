#!/usr/bin/env bash
# Fuzzes the parsers that read what users and peers hand the program, with libFuzzer (Debian's clang-14) under
# AddressSanitizer and UndefinedBehaviorSanitizer: a benchmark split file, an image header, an LLM judge's reply,
# a run configuration (targets in tests/fuzz/targets.cpp). Prints executions and coverage per target; a crash, hang
# (10 s) or out-of-memory (2 GB) input is saved under build-fuzz/findings/TARGET/ and the script exits non-zero.
# Each finding, once fixed, goes to tests/fuzz/regressions/TARGET/, which test_fuzzregressions replays in ./test.sh.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      SECONDS per target (default 60); targets: split imageheader
#                                              judgereply runconfig (default: all)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SECS=${1:-60}
[ $# -gt 0 ] && shift
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(split imageheader judgereply runconfig)
OUT="$ROOT/build-fuzz"
CXX=${CXX_FUZZ:-clang++-14}
if ! command -v "$CXX" >/dev/null; then
  echo "==> Installing clang-14 (libFuzzer)"
  sudo=""; [ "$(id -u)" != 0 ] && sudo=sudo
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq clang-14
fi

FLAGS=(-std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all -I"$ROOT")
SOURCES=(core/data/benchmark.cpp core/data/imageheader.cpp core/data/sha256.cpp core/data/pathguard.cpp
         core/data/nocv/imagedecode_nocv.cpp
         core/metrics/evaluation.cpp core/metrics/textmetrics.cpp core/metrics/llmjudge.cpp
         core/unlearn/method.cpp core/unlearn/settings.cpp core/unlearn/runconfig.cpp tests/fuzz/targets.cpp)
mkdir -p "$OUT/obj"
OBJS=()
echo "==> Compiling the parsers with coverage and sanitizers ($CXX)"
for s in "${SOURCES[@]}"; do
  o="$OUT/obj/$(echo "$s" | tr / _).o"
  if [ ! -f "$o" ] || [ "$ROOT/$s" -nt "$o" ] || [ -n "$(find "$ROOT/core" "$ROOT/tests/fuzz" -name '*.h' -newer "$o" -print -quit)" ]; then
    "$CXX" "${FLAGS[@]}" -fsanitize=fuzzer-no-link -c "$ROOT/$s" -o "$o" &
    while [ "$(jobs -rp | wc -l)" -ge "$(nproc)" ]; do wait -n; done
  fi
  OBJS+=("$o")
done
wait

status=0
printf '\n%-12s %12s %10s %8s %8s  %s\n' target executions "exec/s" cov ft findings
for t in "${TARGETS[@]}"; do
  bin="$OUT/fuzz_$t"
  "$CXX" "${FLAGS[@]}" -fsanitize=fuzzer -DSE_FUZZ_TARGET="$t" "$ROOT/tests/fuzz/fuzz_main.cpp" "${OBJS[@]}" \
    -lcurl -o "$bin"
  corpus="$OUT/corpus/$t"
  mkdir -p "$corpus" "$OUT/findings/$t"
  for d in "$ROOT/tests/fuzz/seeds/$t" "$ROOT/tests/fuzz/regressions/$t"; do
    [ -d "$d" ] && cp -n "$d"/* "$corpus"/ 2>/dev/null || true
  done
  log="$OUT/$t.log"
  if "$bin" "$corpus" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
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
