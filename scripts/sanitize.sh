#!/usr/bin/env bash
# Sanitizer and fuzzing stage of the test command (scripts/test.sh runs it
# after the Release build; it can also run alone).
#
#   scripts/sanitize.sh [asan] [tsan] [fuzz]     (default: all three)
#
#   asan  clang ASan + UBSan build in build-asan (with the fuzz targets), the
#         whole ctest suite in it (the chaos tests for TESSERA_CHAOS_SECONDS,
#         default 20 here);
#   tsan  clang TSan build in build-tsan of the concurrency tests only
#         (ctest label `concurrency`, tests/CMakeLists.txt), run with them;
#   fuzz  each libFuzzer target of tests/fuzz/ for TESSERA_FUZZ_SECONDS
#         (default 20) from its seed corpus in tests/fuzz/corpus/ (new inputs
#         go to a scratch directory; the committed corpus is not touched),
#         printing the executions.
#
# Environment: TESSERA_FUZZ_SECONDS; TESSERA_SANITIZE_JOBS (default nproc).
# Suppressions (third-party, uninstrumented code only) are in
# tests/sanitizers/. Prints the wall time of each stage.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(asan tsan fuzz)
JOBS=${TESSERA_SANITIZE_JOBS:-$(nproc)}
FUZZ_SECONDS=${TESSERA_FUZZ_SECONDS:-20}
CLANG=(-DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_C_COMPILER=clang-14)
LAUNCHER=()
if command -v ccache >/dev/null; then
  LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
SYMBOLIZER=$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer || true)

export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1:check_initialization_order=1:detect_stack_use_after_return=1${SYMBOLIZER:+:external_symbolizer_path=$SYMBOLIZER}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${SYMBOLIZER:+:external_symbolizer_path=$SYMBOLIZER}"
export LSAN_OPTIONS="suppressions=$ROOT/tests/sanitizers/lsan.supp:print_suppressions=0"

declare -A WALL
FAILED=()
timed() {  # timed NAME command...: runs it, records its wall time and failure
  local name=$1 start=$SECONDS rc=0
  shift
  echo "=== sanitize: $name"
  "$@" || rc=$?
  WALL[$name]=$((SECONDS - start))
  echo "=== sanitize: $name took ${WALL[$name]} s$([ $rc -eq 0 ] || echo ", FAILED")"
  [ $rc -eq 0 ] || FAILED+=("$name")
  return $rc
}

configure_asan() {
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Release "${CLANG[@]}" "${LAUNCHER[@]}" \
    -DTESSERA_WERROR=ON -DTESSERA_SANITIZE=address,undefined -DTESSERA_FUZZ=ON
}

asan_build() { configure_asan && cmake --build build-asan -j "$JOBS"; }
asan_test() {
  # The chaos tests run their full 60 s in the Release stage; here 20 s (four
  # kills each) exercise the same failure paths under the sanitizers.
  TESSERA_CHAOS_SECONDS=${TESSERA_CHAOS_SECONDS:-20} ctest --test-dir build-asan --output-on-failure -j "$JOBS"
}

tsan_build() {
  cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Release "${CLANG[@]}" "${LAUNCHER[@]}" \
    -DTESSERA_WERROR=ON -DTESSERA_SANITIZE=thread &&
  cmake --build build-tsan -j "$JOBS" --target tessera_concurrency_tests
}
tsan_test() {
  # The OpenMP runtime (clang links libomp) is not instrumented: one
  # OpenMP thread keeps the kernels serial.
  OMP_NUM_THREADS=1 \
  TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$ROOT/tests/sanitizers/tsan.supp${SYMBOLIZER:+:external_symbolizer_path=$SYMBOLIZER}" \
    ctest --test-dir build-tsan -L concurrency --output-on-failure -j "$JOBS"
}

fuzz_build() { configure_asan && cmake --build build-asan -j "$JOBS" --target tessera_fuzzers; }
fuzz_run() {
  local scratch report="" failed=0
  scratch=$(mktemp -d)
  local -A max_len=([kserve_request_fuzzer]=8192 [npy_fuzzer]=4096 [model_loader_fuzzer]=16384
                    [partition_upload_fuzzer]=16384)
  for fuzzer in kserve_request_fuzzer npy_fuzzer model_loader_fuzzer partition_upload_fuzzer; do
    mkdir -p "$scratch/$fuzzer"
    echo "--- $fuzzer: ${FUZZ_SECONDS} s"
    # -timeout: one input running over 10 s is a finding too.
    if ! build-asan/fuzz/$fuzzer -max_total_time="$FUZZ_SECONDS" -max_len="${max_len[$fuzzer]}" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$scratch/" \
        "$scratch/$fuzzer" "tests/fuzz/corpus/$fuzzer" >"$scratch/$fuzzer.log" 2>&1; then
      tail -n 60 "$scratch/$fuzzer.log"
      for crash in "$scratch"/crash-* "$scratch"/leak-* "$scratch"/timeout-* "$scratch"/oom-*; do
        [ -f "$crash" ] && echo "reproducer: $(base64 -w0 "$crash")"
      done
      echo "sanitize: $fuzzer FAILED"
      report+="  $fuzzer: FAILED"$'\n'
      failed=1
      continue
    fi
    local runs
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$scratch/$fuzzer.log" | grep -o '[0-9]*$' || echo "?")
    report+="  $fuzzer: $runs executions in ${FUZZ_SECONDS} s, corpus $(ls "tests/fuzz/corpus/$fuzzer" | wc -l) seeds + $(ls "$scratch/$fuzzer" | wc -l) new"$'\n'
  done
  echo "fuzzers:"
  printf '%s' "$report"
  rm -rf "$scratch"
  return $failed
}

for stage in "${stages[@]}"; do
  case $stage in
    asan) timed asan-build asan_build && timed asan-test asan_test || true ;;
    tsan) timed tsan-build tsan_build && timed tsan-test tsan_test || true ;;
    fuzz) timed fuzz-build fuzz_build && timed fuzz-run fuzz_run || true ;;
    *) echo "sanitize: unknown stage '$stage' (asan, tsan, fuzz)" >&2; exit 2 ;;
  esac
done
echo "sanitize: wall times (s):"
for name in "${!WALL[@]}"; do echo "  $name ${WALL[$name]}"; done | sort
if [ ${#FAILED[@]} -gt 0 ]; then
  echo "sanitize: FAILED: ${FAILED[*]}"
  exit 1
fi
echo "sanitize: all stages passed"
