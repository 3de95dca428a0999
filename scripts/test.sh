#!/usr/bin/env bash
# Installs missing packages, builds, and runs every test (unit, end-to-end) with ctest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
bash "$root/scripts/build.sh" "$build"
jobs=$(nproc 2>/dev/null || echo 2)
cd "$build"
ctest --output-on-failure -j "$jobs" --timeout 900
