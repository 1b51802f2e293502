#!/usr/bin/env bash
# Configures and builds one flavour: release (default, build/) or asan (build-asan/).
set -euo pipefail
cd "$(dirname "$0")/.."
flavour="${1:-release}"
jobs="$(nproc)"
case "$flavour" in
  release) cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DNM_WERROR=ON > /dev/null
           cmake --build build -j "$jobs" ;;
  asan)    cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNM_SANITIZE=ON \
                 -DNM_BUILD_BENCH=OFF -DNM_WERROR=ON > /dev/null
           cmake --build build-asan -j "$jobs" ;;
  fuzz)    CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
                 -DNM_FUZZ=ON -DNM_BUILD_BENCH=OFF > /dev/null
           cmake --build build-fuzz -j "$jobs" --target nm_fuzz_all ;;
  *) echo "usage: scripts/build.sh [release|asan|fuzz]" >&2; exit 2 ;;
esac
