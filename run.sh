#!/usr/bin/env bash
# Installs what is missing, builds, generates the bundled benchmark if it is not there yet, and starts the
# SafeEraser Workbench on it. Extra arguments go to the workbench.
set -euo pipefail
source "$(dirname "$0")/scripts/setup.sh"
se_install_packages
se_build

DATA="$SE_ROOT/data/benchmark"
if [ ! -f "$DATA/all_train.json" ]; then
  echo "==> Generating the bundled benchmark in $DATA"
  "$SE_BUILD/bin/safeeraser" make-benchmark --out "$DATA"
fi

echo "==> Starting the workbench"
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ] && [ -z "${QT_QPA_PLATFORM:-}" ]; then
  echo "    (no display found: running under xvfb-run, where the window is not visible)"
  exec xvfb-run -a "$SE_BUILD/bin/safeeraser-workbench" "$DATA" "$@"
fi
exec "$SE_BUILD/bin/safeeraser-workbench" "$DATA" "$@"
