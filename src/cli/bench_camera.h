// `nanomind bench --workload camera:N` (cli/bench_camera.cpp): the monolithic vs NanoMind
// ablation of issue 12, both modes in one invocation.
#pragma once

#include <string>

#include "cli/text_options.h"
#include "core/status.h"

namespace nm::cli {

// "camera:N" -> N (1..100000); an error names the spec.
Result<int> parse_camera_workload(const std::string& spec);
// Runs the three modes on n_frames camera-like frames with answers of at most n_answer
// tokens, `rounds` times (the modes' order rotated each round); prints a table of medians,
// or JSON with as_json. Returns the process exit code.
int bench_camera(const TextOptions& text, int n_frames, int n_answer, bool as_json, int rounds = 1);

}  // namespace nm::cli
