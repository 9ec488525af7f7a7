#!/usr/bin/env bash
# Benchmark (prints numbers; not a test): data-parallel scaling of vanilla training on this machine (README "On a
# cluster"). One process on 1 and 2 OpenBLAS threads, one process with the global batch as micro-batch × accumulation
# 2, and two Gloo processes on loopback with half the batch each (torchrun's variables), one thread each: steps/s,
# samples/s, and the share of the step the collectives took (from the summary each rank prints).
#   tests/bench/bench_dataparallel.sh [SAFEERASER] [BENCHMARK_DIR] [STEPS]
set -euo pipefail
SE="${1:-build/bin/safeeraser}"
DATA="${2:-}"
STEPS="${3:-60}"
T="$(mktemp -d /tmp/se-bench-dp.XXXXXX)"
trap 'rm -rf "$T"' EXIT
if [ -z "$DATA" ]; then
  DATA="$T/bench"
  "$SE" make-benchmark --out "$DATA" >/dev/null 2>&1
fi
common=(train-vanilla --data "$DATA" --steps "$STEPS" --seed 7)
seconds() { sed -n 's/.*finished after [0-9]* steps in \([0-9.]*\) s.*/\1/p' "$1"; }
row() { # label, seconds, global batch
  awk -v l="$1" -v s="$2" -v n="$STEPS" -v b="$3" 'BEGIN { printf "%-58s %7.2f s %7.1f steps/s %7.0f samples/s\n", l, s, n / s, n * b / s }'
}
"$SE" "${common[@]}" --batch 32 --threads 1 --out "$T/a.safetensors" >"$T/a.out" 2>/dev/null
row "one process, batch 32, 1 OpenBLAS thread" "$(seconds "$T/a.out")" 32
"$SE" "${common[@]}" --batch 32 --threads 2 --out "$T/b.safetensors" >"$T/b.out" 2>/dev/null
row "one process, batch 32, 2 OpenBLAS threads" "$(seconds "$T/b.out")" 32
"$SE" "${common[@]}" --batch 16 --grad-accum 2 --threads 1 --out "$T/c.safetensors" >"$T/c.out" 2>/dev/null
row "one process, batch 16 x accumulation 2, 1 thread" "$(seconds "$T/c.out")" 32
port=$((29000 + RANDOM % 1000))
for r in 1 0; do
  RANK=$r WORLD_SIZE=2 LOCAL_RANK=$r MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
    "$SE" "${common[@]}" --batch 16 --threads 1 --out "$T/d$r.safetensors" >"$T/d$r.out" 2>"$T/d$r.err" &
done
wait
row "two Gloo processes, batch 16 each, 1 thread each" "$(seconds "$T/d0.out")" 32
for r in 0 1; do
  echo "  rank $r: $(grep -o 'data-parallel: .*' "$T/d$r.err")"
done
if [ "$(grep -o 'final loss [0-9.]*' "$T/c.out")" = "$(grep -o 'final loss [0-9.]*' "$T/d0.out")" ]; then
  echo "  two processes and one with accumulation 2: the same $(grep -o 'final loss [0-9.]*' "$T/d0.out")"
else
  echo "  two processes and one with accumulation 2 differ: $(grep -o 'final loss [0-9.]*' "$T/c.out") vs $(grep -o 'final loss [0-9.]*' "$T/d0.out")"
fi
