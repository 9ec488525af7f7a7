#!/usr/bin/env bash
# Shared set-up for run.sh and test.sh: install the Debian packages that are missing, configure once, build
# incrementally. Sourced, not run. Idempotent and quick when nothing changed.
set -euo pipefail

SE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SE_BUILD="${SE_BUILD_DIR:-$SE_ROOT/build}"

SE_PACKAGES=(
  cmake ninja-build ccache g++ pkg-config
  qt6-base-dev libqcustomplot-dev libqcustomplot2.1-qt6
  libtorch-dev libopenblas0-pthread libgloo-dev
  libopencv-dev nlohmann-json3-dev libsqlite3-dev libcli11-dev libcurl4-openssl-dev libicu-dev
  python3-numpy clang-format
  xvfb xauth
)

se_install_packages() {
  local missing=() p
  for p in "${SE_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  echo "==> Installing missing Debian packages: ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "error: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo=sudo
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
}

# Configures $SE_BUILD once: Release, or what SE_CMAKE_ARGS (an array) says (./test.sh --sanitize).
se_configure() {
  if [ ! -f "$SE_BUILD/build.ninja" ]; then
    echo "==> Configuring in $SE_BUILD"
    if [ -n "${SE_CMAKE_ARGS+x}" ]; then
      cmake -S "$SE_ROOT" -B "$SE_BUILD" -G Ninja "${SE_CMAKE_ARGS[@]}" >/dev/null
    else
      cmake -S "$SE_ROOT" -B "$SE_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
    fi
  fi
}

se_build() {
  se_configure
  echo "==> Building"
  cmake --build "$SE_BUILD" "$@"
}
