#!/usr/bin/env bash
# The main job: installs dependencies, builds, and asks NanoMind's bundled demo
# vision-language model (models/, trained by tools/demo_model) about a picture, offline.
# Every brick runs for real: image decode + preprocess, vision encoder, projector, text.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release nanomind_cli  # the CLI only: scripts/test.sh builds the rest
image=models/samples/scene_3.png
question="How many shapes are there?"
echo "image:    $image"
echo "question: $question"
# -v prints the placement, timings and energy on stderr, before the answer below.
answer="$(build/bin/nanomind run -m models/nanomind-demo-llm.gguf --mmproj models/nanomind-demo-mmproj.gguf \
  --image "$image" -p "$question" --temp 0 -n 32 -v)"
echo "answer:   $answer"
