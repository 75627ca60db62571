#!/usr/bin/env bash
# One-command GPU check: the CPU reference matrix and the prefill benchmark (vs cuBLAS) on an NVIDIA
# GPU, from a small prepared bundle (docs/gpu-check.md).
#
#   bash scripts/gpu-check.sh prepare [--chip sm_90] [--bundle DIR] [--emulator] [--jobs N] [--no-tf32]
#        here, with build/: writes gpu-bundle/ (gitignored, < 32 MiB) to carry to the GPU machine: the
#        matrix in the default GEMM math (3xtf32), 4 configs with --gpu-math=tf32, and the benchmark
#        model in every math mode (simt, tf32, 3xtf32)
#   bash scripts/gpu-check.sh run [--out DIR] [--bundle DIR] [--emulate] [...]
#        on the GPU machine, from the repository root with gpu-bundle/ carried; needs python3 with
#        torch (CUDA) and numpy, nothing built. Writes DIR/gpu-check.json (DIR defaults to $OUT)
#   bash scripts/gpu-check.sh
#        with build/bin/mhmoe-compile (a full development machine with a GPU): prepare, run, then
#        lit build/test/Integration/CUDA; without it: run
#
# Environment: PYTHON (the python to use), GPU_CHECK_TIMEOUT (hard limit of `run`, default 420 s;
# the python side keeps to --budget, default 330 s, and prints a summary of what it did).
# `run --emulate` (alias --dry-run) needs no GPU: a bundle prepared with --emulator, on CPU tensors.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1

pick_python() {
  local p
  for p in ${PYTHON:-} python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import torch, numpy' >/dev/null 2>&1; then
      echo "$p"; return 0
    fi
  done
  for p in ${PYTHON:-} python3 /usr/bin/python3; do   # no torch anywhere: let gpu_check.py say so
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import numpy' >/dev/null 2>&1; then
      echo "$p"; return 0
    fi
  done
  echo "gpu-check: FAIL: no python3 with numpy (and torch) found; set PYTHON=..." >&2
  return 1
}

bundle_arg() {  # the --bundle of "$@", default gpu-bundle
  local b="$root/gpu-bundle" prev=""
  for w in "$@"; do
    case "$w" in --bundle=*) b="${w#--bundle=}" ;; esac
    [ "$prev" = "--bundle" ] && b="$w"
    prev="$w"
  done
  echo "$b"
}

do_prepare() {
  for t in build/bin/mhmoe-compile build/bin/mhmoe-run build/lib/libMHMoECudaRuntime.so; do
    if [ ! -e "$t" ]; then
      echo "gpu-check: $t is missing; building (scripts/build.sh)"
      bash scripts/build.sh || { echo "gpu-check: FAIL: build failed"; return 1; }
      break
    fi
  done
  local py; py=$(pick_python) || return 1
  local args=() chip_seen=0
  for w in "$@"; do
    case "$w" in --chip|--chip=*) chip_seen=1 ;; esac
    args+=("$w")
  done
  [ $chip_seen = 1 ] || args+=(--chip sm_90)
  "$py" scripts/gpu_check.py prepare "${args[@]}"
}

do_run() {
  local py; py=$(pick_python) || return 1
  local b; b=$(bundle_arg "$@")
  export LD_LIBRARY_PATH="$b/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export PYTHONDONTWRITEBYTECODE=1
  local limit=${GPU_CHECK_TIMEOUT:-420} rc log=""
  if [ -n "${OUT:-}" ]; then mkdir -p "$OUT" && log="$OUT/gpu-check.log"; fi
  echo "gpu-check: $py, bundle $b, limit ${limit}s"
  if [ -n "$log" ]; then
    timeout -k 15 "$limit" "$py" -u scripts/gpu_check.py run --bundle "$b" "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
  else
    timeout -k 15 "$limit" "$py" -u scripts/gpu_check.py run --bundle "$b" "$@"
    rc=$?
  fi
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    echo "gpu-check: FAIL: killed after ${limit}s (GPU_CHECK_TIMEOUT); partial results in \$OUT/gpu-check.json"
    return 1
  fi
  return "$rc"
}

mode=${1:-all}
[ $# -gt 0 ] && shift
case "$mode" in
  prepare) do_prepare "$@" ;;
  run) do_run "$@" ;;
  all)
    if [ -x build/bin/mhmoe-compile ]; then
      do_prepare || exit 1
      do_run; rc=$?
      echo "== lit build/test/Integration/CUDA"
      /usr/lib/llvm-22/bin/lit -sv build/test/Integration/CUDA || rc=1
      exit $rc
    else
      do_run
    fi ;;
  -h|--help|help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) echo "usage: bash scripts/gpu-check.sh [prepare|run] [options]" >&2; exit 2 ;;
esac
