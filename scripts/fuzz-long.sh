#!/usr/bin/env bash
# Long fuzzing runs of the mhmoe fuzz targets (see fuzz/README.md); the test suite only runs a
# bounded number of executions (ctest -L fuzz).
#
#   scripts/fuzz-long.sh [SECONDS_PER_TARGET] [TARGET...]     (default 600 s; all four targets)
#   MHMOE_FUZZ_BUILD_DIR=build-fuzz MHMOE_FUZZ_JOBS=2 scripts/fuzz-long.sh 3600 safetensors
#
# Builds the libFuzzer targets (falls back to the standalone driver if the build has none) in
# $MHMOE_FUZZ_BUILD_DIR (default build/), replays the seeds and regressions, then fuzzes each
# target for SECONDS_PER_TARGET with a corpus that persists across runs in
# $BUILD/fuzz/long-corpus/<target> (seeds from fuzz/corpus/<target>; the repository is not
# written). MHMOE_FUZZ_JOBS > 1 runs that many libFuzzer jobs in parallel per target.
# A crash leaves its input in $BUILD/fuzz/long-artifacts/<target>/crash-*: minimise it with
#   $BUILD/fuzz/bin/mhmoe-fuzz-<target> -minimize_crash=1 -runs=10000 crash-...
# then fix the bug and add the input to fuzz/regressions/<target>/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(safetensors config npy mlir)
build=${MHMOE_FUZZ_BUILD_DIR:-$root/build}
jobs=${MHMOE_FUZZ_JOBS:-1}
case "$build" in /*) ;; *) build=$root/$build ;; esac

if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit >/dev/null
fi
build_targets=()
for t in "${targets[@]}"; do build_targets+=("mhmoe-fuzz-$t-standalone"); done
if ninja -C "$build" -t targets all 2>/dev/null | grep -q '^mhmoe-libfuzzer:'; then
  build_targets+=(mhmoe-libfuzzer)
fi
cmake --build "$build" --target "${build_targets[@]}"

status=0
for t in "${targets[@]}"; do
  bin=$build/fuzz/bin/mhmoe-fuzz-$t
  [ -x "$bin" ] || bin=$build/fuzz/bin/mhmoe-fuzz-$t-standalone
  work=$build/fuzz/long-$t
  corpus=$build/fuzz/long-corpus/$t
  artifacts=$build/fuzz/long-artifacts/$t
  mkdir -p "$corpus" "$artifacts"
  extra=(-max_total_time="$secs")
  runs=1000000000000
  if [ "$(basename "$bin")" != "mhmoe-fuzz-$t-standalone" ] && [ "$jobs" -gt 1 ]; then
    extra+=(-jobs="$jobs" -workers="$jobs")
  fi
  echo "fuzz-long: $t for ${secs} s with $(basename "$bin")"
  export FUZZ_CORPUS_DIR=$corpus FUZZ_ARTIFACTS_DIR=$artifacts
  if [ "$(basename "$bin")" = "mhmoe-fuzz-$t-standalone" ]; then
    # The standalone driver has no time limit flag: bound it with timeout(1) instead.
    timeout --preserve-status "$secs" bash "$root/fuzz/run-fuzz-test.sh" "$bin" "$t" "$runs" "$work" \
      || { rc=$?; [ $rc -eq 143 ] || status=1; }
  else
    bash "$root/fuzz/run-fuzz-test.sh" "$bin" "$t" "$runs" "$work" "${extra[@]}" || status=1
  fi
done
exit $status
