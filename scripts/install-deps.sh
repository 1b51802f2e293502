#!/usr/bin/env bash
# Installs what NanoMind needs on Debian 12 (apt) and the Python tools used by the
# reference tests and model tools (a venv in .venv). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config git          # build
  clang libclang-rt-14-dev                                  # libFuzzer targets
  libgtest-dev libgmock-dev libbenchmark-dev                # tests, benchmarks
  libcli11-dev nlohmann-json3-dev libcpp-httplib-dev        # CLI parsing, JSON, HTTP server
  libedit-dev                                               # line editing in `nanomind chat` (BSD)
  libstb-dev                                                # image decoding (stb_image)
  libsndfile1-dev libsamplerate0-dev libespeak-ng-dev espeak-ng  # audio in, resampling, TTS
  libasound2-dev                                            # microphone capture (ALSA)
  ocl-icd-opencl-dev opencl-headers pocl-opencl-icd clinfo  # OpenCL (PoCL runs it on the CPU in tests)
  g++-aarch64-linux-gnu qemu-user-static googletest         # aarch64 cross build, its tests under qemu
  python3 python3-venv python3-numpy                        # reference tests and model tools
  python3-torch libopenblas0-pthread                        # demo-model trainer (tools/demo_model), CPU torch
  chromium chromium-driver                                  # the server's chat page in a headless browser (tests)
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# System numpy (Debian's) is reused through --system-site-packages; the rest from PyPI.
if [ ! -x .venv/bin/python ]; then
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -r tools/requirements.txt
