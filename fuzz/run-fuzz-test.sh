#!/usr/bin/env bash
# Runs one fuzz target for the test suite (ctest fuzz.<target>) or longer.
#
#   run-fuzz-test.sh BINARY TARGET RUNS WORK_DIR [extra libFuzzer flags...]
#
# BINARY is a libFuzzer build (mhmoe-fuzz-TARGET) or a standalone-driver build
# (mhmoe-fuzz-TARGET-standalone); both take the same flags.
#  1. Replays every file of fuzz/corpus/TARGET and fuzz/regressions/TARGET.
#  2. Fuzzes RUNS executions starting from the seed corpus, with new inputs
#     going to a scratch corpus WORK_DIR/corpus (the repository is never
#     written), a fixed seed, the target's dictionary, and crash artifacts in
#     WORK_DIR/artifacts/ (FUZZ_CORPUS_DIR / FUZZ_ARTIFACTS_DIR override both).
# Exits non-zero on any crash, sanitizer report, leak, timeout or allocation
# over the limit. Extra flags are appended (e.g. -max_total_time=600).
set -euo pipefail
if [ $# -lt 4 ]; then
  sed -n '2,14p' "$0" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1") target=$2 runs=$3 work=$4
shift 4
seeds=$here/corpus/$target
regressions=$here/regressions/$target
dict=$here/dict/$target.dict
[ -x "$bin" ] || { echo "run-fuzz-test: $bin is not built" >&2; exit 2; }
[ -d "$seeds" ] || { echo "run-fuzz-test: no seed corpus $seeds" >&2; exit 2; }

mkdir -p "$work"
cd "$work"
# FUZZ_CORPUS_DIR / FUZZ_ARTIFACTS_DIR (scripts/fuzz-long.sh) keep a corpus across runs.
corpus=${FUZZ_CORPUS_DIR:-$work/corpus}
artifacts=${FUZZ_ARTIFACTS_DIR:-$work/artifacts}
[ -n "${FUZZ_CORPUS_DIR:-}" ] || rm -rf "$corpus"
[ -n "${FUZZ_ARTIFACTS_DIR:-}" ] || rm -rf "$artifacts"
mkdir -p "$corpus" "$artifacts"

# Common flags: fixed seed; inputs up to 4 KiB (8 KiB for MLIR text); a hang
# (>20 s per input) or an allocation >= 512 MiB on such a small input is a
# failure, not just slow.
max_len=4096
[ "$target" = mlir ] && max_len=8192
flags=(-seed=1 -max_len=$max_len -timeout=20 -malloc_limit_mb=512 -rss_limit_mb=2048
       -dict="$dict" -artifact_prefix="$artifacts/" -print_final_stats=1)

# 1. Replay seeds and regressions (each file once).
mapfile -t files < <(find "$seeds" "$regressions" -type f ! -name 'README*' 2>/dev/null | sort)
echo "run-fuzz-test: replaying ${#files[@]} seed/regression inputs"
"$bin" "${flags[@]}" "${files[@]}"

# 2. Fuzz.
start=$(date +%s%N)
echo "run-fuzz-test: fuzzing $target for $runs executions"
"$bin" "${flags[@]}" -runs="$runs" "$@" "$corpus" "$seeds"
end=$(date +%s%N)
ms=$(( (end - start) / 1000000 ))
printf 'run-fuzz-test: %s: fuzzed (up to %s executions) for %d.%03d s, no crash\n' "$target" \
  "$runs" $((ms / 1000)) $((ms % 1000))
