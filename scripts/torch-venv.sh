#!/usr/bin/env bash
# Makes (once) or reuses the venv with what users run today: torch 2.x from PyPI (MKL/oneDNN), numpy,
# transformers and safetensors. It lives outside the clone ($MHMOE_TORCH_VENV, default
# ~/.cache/mhmoe/torch-venv; torch pulls about 3 GB of wheels) so that every clone and CI run reuses it.
# Prints the venv's python. The benchmark needs it; the test suite uses it for the transformers
# drop-in tests (test/Python/torch-patch.test), which are reported unsupported when it cannot be made.
set -euo pipefail
venv=${MHMOE_TORCH_VENV:-$HOME/.cache/mhmoe/torch-venv}
want="torch numpy transformers safetensors"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import torch, numpy, transformers, safetensors" 2>/dev/null; then
  echo "torch-venv: installing $want into $venv (about 3 GB the first time)" >&2
  mkdir -p "$(dirname "$venv")"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q $want >&2
fi
echo "$venv/bin/python"
