#!/usr/bin/env bash
# Builds mhmoe, compiles the bundled example model and runs it on its input.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/build.sh" >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$root/build/bin/mhmoe-run" "$root/examples/tiny" --input "$root/examples/tiny/input.npy" \
  --output "$out/output.npy" --stats "$out/stats.json"
echo "stats: $(tr -d '\n' < "$out/stats.json" | head -c 400)"
