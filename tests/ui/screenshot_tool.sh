#!/usr/bin/env bash
# The screenshot tool (app/screenshots) as scripts/screenshots.sh uses it: on a small generated benchmark it saves a
# PNG of the dataset view and exits 0; without its two options it refuses with exit 2.
#   tests/ui/screenshot_tool.sh CLI SCREENSHOT_TOOL
set -euo pipefail
cli="$1" tool="$2"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export QT_QPA_PLATFORM=offscreen HOME="$tmp" XDG_CONFIG_HOME="$tmp/config" XDG_CACHE_HOME="$tmp/cache"
"$cli" make-benchmark --out "$tmp/bench" --records 12 --image-size 64 >/dev/null
set +e
"$tool" "$tmp/bench" >/dev/null 2>&1
rc=$?
set -e
[ "$rc" -eq 2 ] || { echo "FAIL: without --screenshot-view/--screenshot the tool exited $rc, not 2"; exit 1; }
"$tool" "$tmp/bench" --screenshot-view dataset --screenshot "$tmp/shot.png" --store "$tmp/runs.sqlite" 2>&1 |
  grep -v -e XDG_RUNTIME_DIR -e propagateSizeHints || true
[ -s "$tmp/shot.png" ] || { echo "FAIL: no screenshot written"; exit 1; }
[ "$(head -c 8 "$tmp/shot.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] ||
  { echo "FAIL: $tmp/shot.png is not a PNG"; exit 1; }
echo "PASS: screenshot tool wrote $(stat -c %s "$tmp/shot.png") bytes of PNG"
