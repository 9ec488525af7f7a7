#!/usr/bin/env bash
# Installs what is missing, builds, generates the bundled benchmark and trains the built-in vanilla model if they
# are not there yet (once: a few minutes), and starts the SafeEraser Workbench on them with the run store
# data/runs.sqlite. Extra arguments go to the workbench.
set -euo pipefail
source "$(dirname "$0")/scripts/setup.sh"
se_install_packages
se_build

DATA="$SE_ROOT/data/benchmark"
if [ ! -f "$DATA/all_train.json" ]; then
  echo "==> Generating the bundled benchmark in $DATA"
  "$SE_BUILD/bin/safeeraser" make-benchmark --out "$DATA"
fi

STORE="$SE_ROOT/data/runs.sqlite"
MODEL="$STORE.models/vanilla.safetensors" # where the workbench and `safeeraser reproduce` look for it
if [ ! -f "$MODEL" ]; then
  echo "==> Training the built-in vanilla model (once; a few minutes on two cores)"
  mkdir -p "$(dirname "$MODEL")"
  "$SE_BUILD/bin/safeeraser" train-vanilla --data "$DATA" --out "$MODEL.partial"
  mv "$MODEL.partial" "$MODEL"
fi

echo "==> Starting the workbench"
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ] && [ -z "${QT_QPA_PLATFORM:-}" ]; then
  echo "    (no display found: running under xvfb-run, where the window is not visible)"
  exec xvfb-run -a "$SE_BUILD/bin/safeeraser-workbench" "$DATA" --store "$STORE" "$@"
fi
exec "$SE_BUILD/bin/safeeraser-workbench" "$DATA" --store "$STORE" "$@"
