#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs dependencies, fetches the
# real model files (scripts/fetch-models.sh; cached, verified), builds the release and
# sanitizer (ASan + UBSan, clang) flavours, runs every test in both (the release build also
# with the real-weight tier, `ctest -L real`, and with the kernels capped at AVX2 and at
# AVX-512 without VNNI where the CPU has more; the sanitizer build also runs each fuzz target
# briefly), runs the runtime's threaded tests under ThreadSanitizer, then cross-builds for
# aarch64 and runs the C++ tests under qemu-user (NEON kernels against the scalar path).
# CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
# Each stage's heading says when it starts (seconds since this script began), so a CI log
# shows where the time goes.
stage() { echo "== $* (at ${SECONDS} s)"; }
scripts/install-deps.sh
jobs="$(nproc)"

stage "real model files"
scripts/fetch-models.sh

stage "release build"
scripts/build.sh release
# The real-weight tier runs here only: its files must be present (not skipped).
(cd build && NM_REAL_REQUIRED=1 ctest --output-on-failure -j "$jobs")

# Again on the x86 kernel paths below the one this CPU picks (NM_ISA caps the dispatch), so
# a machine without AVX-512 or VNNI runs code that was tested end to end, not only per kernel:
# the tests labelled "kernels" (every C++ test, and the Python tests whose numbers go through
# the kernels: tests/CMakeLists.txt lists them).
usable="$(build/bin/nanomind info | sed -n 's/^kernel paths usable here://p')"
for isa in avx2 avx512; do
  case "$usable " in
    *" $isa "*avx512*) stage "release tests with NM_ISA=$isa"
                       (cd build && NM_ISA=$isa ctest --output-on-failure -j "$jobs" -L '^kernels$') ;;
  esac
done

# One clang build holds the sanitized tests and the libFuzzer targets (fuzz.*: 10 s each
# from their seeds), so the library is compiled once for both.
stage "sanitizer build (ASan + UBSan) with the fuzz targets"
scripts/build.sh asan
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
   LSAN_OPTIONS=suppressions="$PWD/../tests/lsan.supp" ctest --output-on-failure -j "$jobs" -E '^py\.test_.*_slow' \
   -LE real)

# The runtime's threads (pool guests, token ring, stream workers, the C API's streams, traces) under
# ThreadSanitizer: to keep CI's time proportionate, only the library and a test program of
# those tests' sources are built (tests/CMakeLists.txt lists them under NM_TSAN), and only
# they run.
stage "ThreadSanitizer build (runtime tests)"
scripts/build.sh tsan nanomind_tests
(cd build-tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 ctest --output-on-failure -j "$jobs" \
   -R '^(ThreadPool|TokenRing|FrameStream|CApiStream|Trace|Residency|Pipeline|TinyPipeline|MemoryUsage|StreamReplan)\.')

# Two emulated CPUs: qemu's default (max: NEON + sdot, so neon and neon_dotprod are both
# checked) and a Cortex-A53 (ARMv8.0: no sdot, no fp16), where an ARMv8.2 instruction
# outside the Isa::neon_dotprod path would stop the kernel tests with SIGILL.
if command -v aarch64-linux-gnu-g++ > /dev/null && command -v qemu-aarch64-static > /dev/null; then
  stage "aarch64 cross build, C++ tests under qemu-user"
  # The library and its tests: the NEON kernels are what differs on a board. The CLI's
  # sources hold no architecture-specific code (the x86 builds compile them) and took 177
  # CPU-seconds to cross-compile (2026-12-07), so they are left out here, as are the benchmarks.
  scripts/build.sh aarch64 nanomind_tests
  # The runtime's thread-orchestration tests are not built here (tests/CMakeLists.txt).
  (cd build-aarch64 && ctest --output-on-failure -j "$jobs")
  (cd build-aarch64 && QEMU_CPU=cortex-a53 ctest --output-on-failure -j "$jobs" \
     -R '^(Matmul|Ops|Quants|BackendOps|CpuExecutor|CpuExecutorRebind|GraphCache|GraphShapes|MemoryPlanner|KvCache)\.')
else
  echo "== aarch64: skipped (needs aarch64-linux-gnu-g++ and qemu-aarch64-static)"
fi
stage "done"
