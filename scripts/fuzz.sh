#!/usr/bin/env bash
# A bounded libFuzzer run of optim-fuzz (built by scripts/sanitize.sh build,
# or any build configured with -DOPTIM_ENABLE_FUZZER=ON), seeded from the
# lit inputs. Fails on any finding: a crash, an abort, an LLVM fatal error,
# a sanitizer report, a leak, an input that runs longer than the timeout or
# takes more memory than the limit. The finding is written to
# BUILD/fuzz/findings/ (reproduce: see docs/Fuzzing-and-sanitizers.md).
#
#   scripts/fuzz.sh [SECONDS] [libFuzzer options...]     (default: 180)
#
# OPTIM_ASAN_BUILD_DIR overrides the build directory (build-asan).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${OPTIM_ASAN_BUILD_DIR:-build-asan}
SECONDS_TO_RUN=${1:-180}
shift || true
FUZZ=$BUILD/fuzz
[[ -x $BUILD/bin/optim-fuzz ]] || {
  echo "error: no $BUILD/bin/optim-fuzz; run scripts/sanitize.sh build" >&2
  exit 1
}

rm -rf "$FUZZ/seeds" "$FUZZ/findings"
mkdir -p "$FUZZ/corpus" "$FUZZ/findings"
/usr/bin/python3 test/Fuzz/make-corpus.py . "$FUZZ/seeds" "$FUZZ/optim.dict"

export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-22/bin/llvm-symbolizer
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
# (optim-fuzz also has allow_user_poisoning=0 built in: see
# tools/AsanDefaultOptions.cpp.)
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# New inputs go to $FUZZ/corpus (kept between runs); the seeds are read.
# -timeout: one input over 60 s is a hang (the largest seeds take about a
# second under the sanitizers); -rss_limit_mb: 4 GiB.
echo "== optim-fuzz for ${SECONDS_TO_RUN}s"
# Progress lines ("#1234 NEW ...") only go to the log.
{
  "$BUILD/bin/optim-fuzz" "$FUZZ/corpus" "$FUZZ/seeds" \
    -dict="$FUZZ/optim.dict" -max_total_time="$SECONDS_TO_RUN" \
    -timeout=60 -rss_limit_mb=4096 -max_len=32768 -print_final_stats=1 \
    -artifact_prefix="$FUZZ/findings/" "$@" 2>&1 &&
    echo 0 > "$FUZZ/status" || echo $? > "$FUZZ/status"
} | tee "$FUZZ/log" | grep --line-buffered -v '^#[0-9]' || true
status=$(cat "$FUZZ/status")
if compgen -G "$FUZZ/findings/*" > /dev/null; then
  echo "optim-fuzz: findings in $FUZZ/findings:" >&2
  ls -l "$FUZZ/findings" >&2
  exit 1
fi
exit "$status"
