#!/usr/bin/env bash
# Builds everything and runs every test: lit (dialect, conversion, integration) and ctest (unit tests).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/build.sh"
cd "$root/build"
ctest --output-on-failure -j2
/usr/lib/llvm-22/bin/lit -sv --time-tests -j2 test
