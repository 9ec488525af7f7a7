#!/usr/bin/env bash
# The reference environment: PyTorch, transformers, PEFT, tokenizers, sentencepiece and Pillow from PyPI, pinned in
# tests/reference/requirements.txt, in a virtual environment of Debian's python3 — the referees of the tests and the
# source of the golden values, never a dependency of the product.
#
#   scripts/reference_env.sh                 install it when missing (or when the pins changed); print its python
#   scripts/reference_env.sh python ARGS…    run its python (installing first)
#   scripts/reference_env.sh --path          print where its python is, installed or not; exit 1 when it is not
#
# Where: $SE_REFERENCE_ENV, else ~/.cache/safeeraser/reference-<hash of the pins> (a clean build keeps it).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQ="$ROOT/tests/reference/requirements.txt"
HASH="$(sha256sum "$REQ" | cut -c1-12)"
DIR="${SE_REFERENCE_ENV:-${XDG_CACHE_HOME:-$HOME/.cache}/safeeraser/reference-$HASH}"
PY="$DIR/bin/python"

installed() { [ -x "$PY" ] && [ -f "$DIR/.complete" ]; }

install() {
    installed && return 0
    echo "==> Installing the reference environment (PyPI: torch, transformers, peft, …; about 2.9 GB) in $DIR" >&2
    local t0
    t0=$(date +%s)
    rm -rf "$DIR"
    mkdir -p "$(dirname "$DIR")"
    /usr/bin/python3 -m venv "$DIR" >&2
    # --no-deps: the pins are the whole environment; binary wheels only, nothing compiled here.
    "$PY" -m pip install --quiet --disable-pip-version-check --no-deps --no-compile --only-binary=:all: \
        -r "$REQ" >&2
    "$PY" -c "import torch, transformers, peft, tokenizers, sentencepiece, PIL" >&2
    touch "$DIR/.complete"
    echo "==> Reference environment ready in $(($(date +%s) - t0)) s ($(du -sh "$DIR" | cut -f1) on disk)" >&2
}

case "${1:-}" in
--path)
    echo "$PY"
    installed
    ;;
python)
    shift
    install
    exec "$PY" "$@"
    ;;
"")
    install
    echo "$PY"
    ;;
*)
    echo "usage: scripts/reference_env.sh [--path | python ARGS…]" >&2
    exit 2
    ;;
esac
