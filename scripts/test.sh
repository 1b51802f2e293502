#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs dependencies, builds the
# release and sanitizer (ASan + UBSan) flavours, runs every test in both, then runs each
# fuzz target briefly. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs="$(nproc)"

echo "== release build"
scripts/build.sh release
(cd build && ctest --output-on-failure -j "$jobs")

echo "== sanitizer build (ASan + UBSan)"
scripts/build.sh asan
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
   LSAN_OPTIONS=suppressions="$PWD/../tests/lsan.supp" ctest --output-on-failure -j "$jobs" -E '^py\.test_.*_slow')

echo "== fuzz targets (short runs)"
scripts/build.sh fuzz
(cd build-fuzz && ctest --output-on-failure -R '^fuzz\.')
