#!/usr/bin/env bash
# Configures and builds one flavour: release (default, build/), asan (build-asan/: ASan +
# UBSan, with clang also the libFuzzer targets), tsan (build-tsan/: ThreadSanitizer, for the
# runtime's threaded tests) or aarch64 (build-aarch64/: cross-compiled, tests run under
# qemu-user).
# Extra arguments name the targets to build (default: all).
set -euo pipefail
cd "$(dirname "$0")/.."
flavour="${1:-release}"
shift || true
jobs="${NM_JOBS:-$(nproc)}"
targets=()
for t in "$@"; do targets+=(--target "$t"); done
# ccache, where installed, makes rebuilds in several checkouts of the tree cheap (optional).
launcher=()
if command -v ccache > /dev/null; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  # What ccache needs to cache files compiled with a precompiled header (cmake/pch.cmake).
  export CCACHE_SLOPPINESS="${CCACHE_SLOPPINESS:+$CCACHE_SLOPPINESS,}pch_defines,time_macros,include_file_mtime,include_file_ctime"
fi
# Sanitized flavours keep line tables only (-g1: function, file and line in every report,
# inlined frames included); full debug info made some kernel files take minutes longer.
sanitized=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG"
           -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG")
case "$flavour" in
  release) cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DNM_WERROR=ON "${launcher[@]}" > /dev/null
           cmake --build build -j "$jobs" "${targets[@]}" ;;
  asan)    # With clang (Debian's clang), one build holds the sanitized tests and the fuzz
           # targets: a separate fuzz build compiled the whole library a fifth time.
           compilers=() fuzz=OFF
           if command -v clang++ > /dev/null; then compilers=(CC=clang CXX=clang++) fuzz=ON; fi
           env "${compilers[@]}" cmake -S . -B build-asan -G Ninja "${sanitized[@]}" -DNM_SANITIZE=ON \
                 -DNM_FUZZ="$fuzz" -DNM_BUILD_BENCH=OFF -DNM_WERROR=ON "${launcher[@]}" > /dev/null
           cmake --build build-asan -j "$jobs" "${targets[@]}" ;;
  tsan)    # Without precompiled headers: here every file is compiled on its own includes.
           cmake -S . -B build-tsan -G Ninja "${sanitized[@]}" -DNM_TSAN=ON -DNM_PCH=OFF \
                 -DNM_BUILD_BENCH=OFF -DNM_WERROR=ON "${launcher[@]}" > /dev/null
           cmake --build build-tsan -j "$jobs" "${targets[@]}" ;;
  aarch64) cmake -S . -B build-aarch64 -G Ninja -DCMAKE_BUILD_TYPE=Release -DNM_WERROR=ON \
                 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake "${launcher[@]}" > /dev/null
           cmake --build build-aarch64 -j "$jobs" "${targets[@]}" ;;
  *) echo "usage: scripts/build.sh [release|asan|tsan|aarch64] [target...]" >&2; exit 2 ;;
esac
