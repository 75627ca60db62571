#!/usr/bin/env bash
# mhmoe CPU benchmark: one command.  See bench/README.md.
#
#   bench/run.sh [--quick] [extra bench.py options]
#
# Installs what is missing (OpenBLAS dev files, matplotlib, GNU time; like scripts/setup.sh), makes
# (once) the torch 2.x venv in ~/.cache/mhmoe/torch-venv (torch from PyPI: MKL/oneDNN), builds mhmoe
# if build/bin has no tools yet, builds the C microbenchmarks into bench/.work/bin, then runs
# bench/compare_torch2.py (mhmoe for the host CPU and for x86-64-v3 beside torch 2.x eager,
# torch.compile, MKL sgemm, the ymm and zmm FMA peaks and the read bandwidth; bench/results/torch2.json)
# and bench/bench.py (the older columns: torch 1.13 + OpenBLAS; latest.json, latest.png).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
work="$here/.work"
bin="$work/bin"

pkgs=(libopenblas-dev python3-matplotlib python3-numpy python3-torch time binutils gcc)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x "$root/build/bin/mhmoe-run" ] || [ ! -x "$root/build/bin/mhmoe-compile" ]; then
  echo "bench: building mhmoe (scripts/build.sh)" >&2
  bash "$root/scripts/build.sh"
fi

venv_python=$(bash "$root/scripts/torch-venv.sh")
venv=$(dirname "$(dirname "$venv_python")")

mkdir -p "$bin"
CC=${CC:-gcc}
# AVX2 + FMA on purpose (not -march=native): the limit is the ymm FMA peak of the target machine kind.
$CC -O2 -mavx2 -mfma -pthread "$here/fma_peak.c" -o "$bin/fma_peak"
if grep -qw avx512f /proc/cpuinfo; then
  $CC -O2 -mavx512f -DFMA_ZMM -pthread "$here/fma_peak.c" -o "$bin/fma_peak_avx512"
fi
if grep -qw avx512_bf16 /proc/cpuinfo; then
  $CC -O2 -mavx512f -mavx512bf16 -DFMA_ZMM -DDPBF16 -pthread "$here/fma_peak.c" -o "$bin/dpbf16_peak"
fi
$CC -O2 -mavx2 -mfma -pthread "$here/stream_read.c" -o "$bin/stream_read"
ob_inc=/usr/include/x86_64-linux-gnu/openblas-pthread
$CC -O2 -I"$ob_inc" "$here/sgemm_openblas.c" -o "$bin/sgemm_openblas" -lopenblas

quick=()
for arg in "$@"; do [ "$arg" = "--quick" ] && quick=(--quick); done
"$venv/bin/python" "$here/compare_torch2.py" --bindir "$bin" --tools "$root/build/bin" "${quick[@]}"
exec /usr/bin/python3 "$here/bench.py" --bindir "$bin" "$@"
