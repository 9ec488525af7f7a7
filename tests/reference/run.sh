#!/usr/bin/env bash
# Runs a script of tests/reference in the reference environment (scripts/reference_env.sh), for CTest:
#   tests/reference/run.sh SCRIPT.py ARGS…
# Exit 77 (CTest: skipped, with the reason) when the environment is not installed: ./test.sh installs it.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PY="$("$HERE/../../scripts/reference_env.sh" --path)" || {
    echo "the reference environment (transformers, PEFT, PyTorch from PyPI) is not installed at $PY:" \
        "./test.sh installs it (scripts/reference_env.sh)"
    exit 77
}
script="$1"
shift
cd "$HERE/../.." || exit 1
exec env PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 "$PY" "$HERE/$script" "$@"
