#!/usr/bin/env bash
# The test command: installs what is missing, configures, builds (warnings
# are errors) and runs every test with ctest, then the sanitizer and fuzzing
# stage (scripts/sanitize.sh: the suite under ASan + UBSan, the concurrency
# tests under TSan, each fuzzer briefly). Safe to run repeatedly.
# TESSERA_SANITIZE_STAGE=0 skips the sanitizer stage (a quick local run).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
BUILD_DIR=${TESSERA_BUILD_DIR:-build}
start=$SECONDS
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTESSERA_WERROR=ON
cmake --build "$BUILD_DIR" -j "$(nproc)"
echo "=== test: release build took $((SECONDS - start)) s"
start=$SECONDS
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)"
echo "=== test: release tests took $((SECONDS - start)) s"

if [ "${TESSERA_SANITIZE_STAGE:-1}" != 0 ]; then
  scripts/sanitize.sh
fi
