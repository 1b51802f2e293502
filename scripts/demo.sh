#!/usr/bin/env bash
# The main job: installs dependencies, builds, and runs NanoMind on the bundled model.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release
build/bin/nanomind info
