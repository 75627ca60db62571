#!/usr/bin/env bash
# Builds everything and runs every test: lit (dialect, conversion, integration) and ctest (unit tests).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/build.sh"
# torch 2.x + transformers for the drop-in tests; without network they are reported unsupported.
bash "$root/scripts/torch-venv.sh" >/dev/null || echo "test: no torch 2.x venv; the transformers tests will be unsupported" >&2
cd "$root/build"
ctest --output-on-failure -j2
/usr/lib/llvm-22/bin/lit -sv --time-tests -j2 test
