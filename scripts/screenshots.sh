#!/usr/bin/env bash
# Starts the workbench under xvfb-run and saves a PNG of each main view into docs/screenshots/:
# browser.png, browser-blurred.png, launcher.png, launcher-llava.png, launcher-qwen2vl.png, comparison.png,
# comparison-statistics.png, plots.png, robustness.png and probe.png (real runs only), presentation.png.
#
#   scripts/screenshots.sh [--demo] [BUILD_DIR]        (BUILD_DIR default: build)
#
# Data: the bundled benchmark (300 records, seed 233) generated into a scratch folder. Runs: with the engine in the
# CLI, `safeeraser reproduce --methods po` trains the vanilla model and makes real PO and PO+PD runs (minutes on
# two cores); with --demo, or when the CLI has no engine, the scripted demo store of tests/ui/demostore.h
# (`bench_ui --write-demo-store`: the benchmark's own texts, judged by the offline judge, no model) — the script
# says which it used. Each screenshot is the screenshot tool (build/bin/safeeraser-screenshots, app/screenshots: the
# workbench with its start-up options plus --screenshot-view NAME --screenshot FILE) that sets the view up, waits
# until it has settled, saves the window and quits.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEMO=0
if [ "${1:-}" = "--demo" ]; then DEMO=1; shift; fi
BUILD="$(cd "${1:-$ROOT/build}" && pwd)"
WB="$BUILD/bin/safeeraser-screenshots"
CLI="${SE_CLI:-$BUILD/bin/safeeraser}"
BENCH_UI="$BUILD/bin/bench_ui"
OUT="$ROOT/docs/screenshots"
WORK="${SE_SHOTS_WORK:-/tmp/safeeraser-screenshots}"
mkdir -p "$OUT" "$WORK"
command -v xvfb-run >/dev/null || { echo "xvfb-run is missing (apt install xvfb)" >&2; exit 2; }
[ -x "$WB" ] || { echo "no screenshot tool at $WB: build it first" >&2; exit 2; }

DATA="$WORK/benchmark"
if [ ! -f "$DATA/all_train.json" ]; then
  echo "==> generating the bundled benchmark in $DATA"
  "$CLI" make-benchmark --out "$DATA" --records 300 --seed 233 >/dev/null
fi

STORE="$WORK/runs.sqlite"
if [ "$DEMO" = 0 ] && "$CLI" reproduce --help >/dev/null 2>&1; then
  if [ ! -f "$WORK/.real-done" ]; then
    echo "==> real runs: vanilla model, PO and PO+PD (safeeraser reproduce; takes minutes)"
    rm -f "$STORE" "$WORK/.audit-done"
    "$CLI" reproduce --store "$STORE" --data "$DATA" --methods po --eval-every 25 --greedy --quiet
    touch "$WORK/.real-done"
  fi
  if [ ! -f "$WORK/.audit-afresh-done" ]; then
    echo "==> a model that never learned the forget targets, then robustness audits of the PO and PO+PD runs"
    NEVER="$STORE.models/never-learned.safetensors"
    [ -f "$NEVER" ] || "$CLI" train-vanilla --data "$DATA" --out "$NEVER" --without-forget >/dev/null 2>&1
    for id in $(sqlite3 "$STORE" "SELECT id FROM runs WHERE method='po' AND status='finished' ORDER BY pd, id"); do
      "$CLI" audit --store "$STORE" --run "$id" --baseline "$NEVER" >/dev/null 2>&1
    done
    touch "$WORK/.audit-afresh-done"
  fi
  KIND="real runs of the built-in model"
else
  [ -x "$BENCH_UI" ] || { echo "no $BENCH_UI to write the demo store" >&2; exit 2; }
  echo "==> scripted demo store (no engine in this build, or --demo)"
  rm -f "$WORK/.real-done"
  "$BENCH_UI" --write-demo-store "$DATA" "$STORE"
  KIND="the scripted demo store"
fi

# Run ids: the vanilla evaluation, PO, PO+PD (as the store lists them).
IDS=$(sqlite3 "$STORE" "SELECT group_concat(id) FROM (SELECT id FROM runs WHERE method='vanilla' ORDER BY id LIMIT 1) UNION ALL SELECT group_concat(id) FROM (SELECT id FROM runs WHERE method='po' AND status='finished' ORDER BY pd, id);" | paste -sd, -)
echo "==> runs compared: $IDS"

export XDG_CONFIG_HOME="$WORK/config" XDG_CACHE_HOME="$WORK/cache" # no user settings; a cache of our own
shot() { # view file [extra options]
  rm -rf "$XDG_CONFIG_HOME"
  local view=$1 file=$2 store=$STORE
  shift 2
  if [ "${1:-}" = "--screenshot-run" ]; then # a run in progress, in a copy of the store (it ends cancelled)
    store="$WORK/runs-shot.sqlite"
    rm -rf "$store" "$store"-* "$store.models"
    sqlite3 "$STORE" ".backup '$store'"
    mkdir -p "$store.models" && ln -sf "$STORE.models/vanilla.safetensors" "$store.models/vanilla.safetensors"
  fi
  xvfb-run -a -s "-screen 0 1600x1000x24" "$WB" "$DATA" --theme light --store "$store" --compare "$IDS" \
    --screenshot-view "$view" --screenshot "$OUT/$file" "$@" 2>&1 | grep -v -e propagateSizeHints -e XDG_RUNTIME_DIR || true
  [ -s "$OUT/$file" ] || { echo "no $OUT/$file" >&2; exit 1; }
}
shot dataset browser.png
if [ "$KIND" = "real runs of the built-in model" ]; then
  shot run launcher.png --screenshot-run # the launcher with a PO+PD run training
else
  shot run launcher.png
fi
# The launcher with a Hugging Face LLaVA folder and the paper's preset: a random mid-size LLaVA (30 M parameters,
# 336 px / 576 image tokens) written by the tests' fixture script (needs numpy).
if /usr/bin/python3 -c "import numpy" 2>/dev/null; then
  [ -f "$WORK/llava-mid/config.json" ] || /usr/bin/python3 "$ROOT/tests/llava/make_tiny_llava.py" "$WORK/llava-mid" --shape mid >/dev/null
  # …starting from an adapter: a real one, from one GA step on that model (seconds)
  [ -f "$WORK/llava-mid-ga.adapter/adapter_model.safetensors" ] ||
    "$CLI" unlearn --data "$DATA" --model "$WORK/llava-mid" --method ga --steps 1 --batch 1 \
      --out "$WORK/llava-mid-ga.adapter" >/dev/null
  shot run launcher-llava.png --model "$WORK/llava-mid" --adapter "$WORK/llava-mid-ga.adapter" --preset paper
fi
# …and with a Qwen2-VL folder: a random mid-size one transformers writes (tests/qwen2vl/make_models.py --mid; needs
# the reference environment).
if "$ROOT/scripts/reference_env.sh" --path >/dev/null 2>&1; then
  [ -f "$WORK/qwen/qwen2vl-mid/config.json" ] ||
    "$ROOT/tests/reference/run.sh" ../qwen2vl/make_models.py "$WORK/qwen" --mid >/dev/null 2>&1
  shot run launcher-qwen2vl.png --model "$WORK/qwen/qwen2vl-mid" --preset paper
fi
shot compare comparison.png
shot statistics comparison-statistics.png
shot dataset-blurred browser-blurred.png
shot plots plots.png
if [ "$KIND" = "real runs of the built-in model" ]; then
  shot robustness robustness.png
  shot probe probe.png
fi
shot presentation presentation.png
echo "==> screenshots of $KIND in $OUT"
