#!/usr/bin/env bash
# Installs what mhmoe needs on a fresh Debian 12 machine; quiet and quick when all is present.
set -euo pipefail
pkgs=(cmake ninja-build g++ libmlir-22-dev mlir-22-tools llvm-22-dev llvm-22-tools libomp-22-dev
      libgtest-dev nlohmann-json3-dev python3-pip python3-setuptools python3-torch python3-numpy python3-matplotlib
      clang-14 libclang-rt-14-dev openmpi-bin libopenmpi-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
