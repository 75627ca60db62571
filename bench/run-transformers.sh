#!/usr/bin/env bash
# transformers 5.x MoE blocks against mhmoe.torch.patch (bench/compare_transformers.py), in the torch 2.x +
# transformers venv of scripts/torch-venv.sh, with the package installed from this build into bench/.work.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
[ -f "$root/build/lib/libMHMoERuntime.so" ] || bash "$root/scripts/build.sh"
python=$(bash "$root/scripts/torch-venv.sh")
work="$here/.work/transformers"
rm -rf "$work/site" "$work/src" && mkdir -p "$work" && cp -r "$root/python" "$work/src"
MHMOE_LIBRARY_DIR="$root/build/lib" "$python" -m pip install -q --no-build-isolation --no-deps --no-index \
  --target "$work/site" "$work/src"
PYTHONPATH="$work/site" MHMOE_CACHE_DIR="$work/cache" exec "$python" "$here/compare_transformers.py" "$@"
