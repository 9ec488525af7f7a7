#!/usr/bin/env bash
# Installs what is missing, builds everything, and runs every test through CTest. Exits non-zero on any failure.
# Extra arguments go to ctest (for example: ./test.sh -R reader).
set -euo pipefail
source "$(dirname "$0")/scripts/setup.sh"
se_install_packages
se_build
echo "==> Running the tests"
cd "$SE_BUILD"
QT_QPA_PLATFORM=offscreen ctest --output-on-failure -j2 "$@"
