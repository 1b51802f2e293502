// A camera stream (runtime/frame_stream.h) run under the battery's power policy: before
// each frame it would ask about, the stream lets the PowerController read the battery
// (draining a simulated one by the joules the energy monitor counted since) and runs the
// frame the way the mode says:
//   parallel   every K-th frame, pipelined (vision encodes frame N+1 while text answers
//              frame N), all threads, both bricks resident;
//   throttled  every round(K / alpha)-th frame (the frames in between are skipped and
//              counted), threads scaled by alpha (Pipeline::set_threads), pipelined;
//   on-demand  every K-th frame is an event: sequential, each brick loaded -> run ->
//              released (Pipeline::set_residency(on_demand)), nothing resident between.
// The stream is the PowerTarget the controller drives. A mode (or thread count) change
// is applied between frames: the stream runs in segments of one setting each, ended by
// the change, so no brick is running when its threads or residency change. Mode changes
// are logged (the controller's log) and, when the pipeline records a trace, recorded as
// slices on a "power" track.
// Answers are those of run_frame_stream in every mode, token for token (kernels give the
// same bits for any thread count; residency and pipelining do not change the arithmetic).
// Thread-safety: as run_frame_stream (one call at a time per session).
#pragma once

#include <functional>

#include "runtime/frame_stream.h"
#include "runtime/power_controller.h"

namespace nm {

struct PoweredStreamParams {
  FrameStreamParams stream;      // question, every (K), n_predict; pipelined: in parallel/throttled
  PowerControllerOptions power;  // policy, log, trace (max_threads: the pipeline's threads)
};

// The policy's state when a frame was asked about.
struct PowerState {
  energy::PowerMode mode = energy::PowerMode::parallel;
  double level = 0;  // battery level 0..1 (NaN: no battery)
  double alpha = 1;
  int threads = 1;
};

struct PoweredStreamStats {
  FrameStreamStats stream;        // summed over the segments
  int answered[3] = {0, 0, 0};    // per mode (parallel, throttled, on-demand)
  int skipped = 0;                // frames a full-rate stream would have asked, skipped by throttling
  int mode_changes = 0;
  bool battery_empty = false;     // stopped because the battery ran out
  PowerStats power;               // energy and time per mode (PowerController)
};

using PoweredAnswerCallback = std::function<void(const FrameAnswer&, const PowerState&)>;

// Runs the stream to its end (or until the battery is empty). `battery` may be null (then
// the policy stays parallel unless power.policy.choice forces a mode); `monitor` may be
// null (a simulated battery then does not drain).
Result<PoweredStreamStats> run_powered_stream(TextSession& session, FrameSource& source,
                                              const PoweredStreamParams& params, energy::BatterySource* battery,
                                              energy::EnergyMonitor* monitor, const PoweredAnswerCallback& on_answer);

}  // namespace nm
