// A discrete-event simulation of a placement running a workload on a profiled board (issue
// 15 item 9): the same cost model as the planner (plan_model.h) for each brick run, replayed
// under the runtime's rules for a camera stream (frame_stream.h, pipeline.h):
//   - frames are all available at the start (a folder, as bench --workload camera:N);
//   - pipelined: a vision worker encodes each frame into a token-ring slot (ring_slots, 2 by
//     default; it waits for a free one: backpressure `block`) while the text worker answers
//     the frame before it; the slot is freed when the text brick's prefill has read it;
//   - a device runs one brick at a time; when two wait for it, the older frame goes first;
//   - keep: each brick's weights are read from storage at its first run and stay resident;
//     on-demand: one brick at a time, loaded before each run and released after it
//     (sequential, nothing overlaps);
//   - sequential (the monolithic reference): one thread runs vision then text for each frame.
// Joules = each run's seconds x its device's active power + loads + the board's base power
// for the whole run. Everything is a simulation from a profile and is labelled so.
// Thread-safety: plain functions.
#pragma once

#include <string>
#include <vector>

#include "runtime/plan/plan_model.h"

namespace nm::plan {

struct SimOptions {
  int frames = 1;          // asked frames (a text workload runs one question)
  int ring_slots = 2;      // PipelineParams::ring_slots
  bool pipelined = true;   // false: one thread, vision then text per frame
};

struct SimEvent {
  int device = 0;      // profile device index (one lane each)
  std::string brick;   // "vision", "text"
  std::string what;    // "load", "encode", "prefill", "decode"
  int frame = 0;
  double start = 0, end = 0;
};

struct SimResult {
  std::vector<SimEvent> events;  // in start order
  int answers = 0;
  double first_answer_s = 0;     // start to the first answer's last token
  double total_s = 0;            // start to the last answer
  double answers_per_minute = 0;
  double joules_per_answer = 0;  // NaN where the profile states no power
  double peak_bytes = 0;
};

// Simulates `workload` (text: one question; camera: one frame; camera:N: N frames) with the
// bricks placed as `pl`. A split placement is refused: the runtime cannot run one yet.
Result<SimResult> simulate(const DeviceProfile& profile, const std::vector<PlanBrick>& bricks, const Workload& workload,
                           const Placement& pl, const SimOptions& options);

// The timeline as an SVG picture: one lane per device, a box per brick run, a time axis.
std::string timeline_svg(const DeviceProfile& profile, const SimResult& sim, const std::string& title);

}  // namespace nm::plan
