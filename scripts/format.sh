#!/usr/bin/env bash
# The project's C++ style (.clang-format, clang-format 14), for every tracked .cpp and .h.
#   scripts/format.sh           reformat in place
#   scripts/format.sh --check   list what differs and exit 1 (a CTest test runs this)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
CF=${CLANG_FORMAT:-clang-format-14}
command -v "$CF" >/dev/null || CF=clang-format
command -v "$CF" >/dev/null || { echo "format.sh: clang-format is not installed (apt install clang-format)" >&2; exit 2; }
if [ -d .git ] || git rev-parse --git-dir >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files --cached --others --exclude-standard '*.cpp' '*.h') # new files too
else
  mapfile -t files < <(find app core ui tests -name '*.cpp' -o -name '*.h')
fi
if [ "${1:-}" = "--check" ]; then
  bad=0
  for f in "${files[@]}"; do
    if ! "$CF" --dry-run -Werror "$f" >/dev/null 2>&1; then
      echo "not formatted: $f (scripts/format.sh fixes it)"
      bad=1
    fi
  done
  exit $bad
fi
"$CF" -i "${files[@]}"
