// Re-planning wired into a camera stream (issue 15 item 8): the stream's workers report each
// brick run's own time (the vision brick's encode, the text brick's prefill + decode of one
// answer); a plan::Replanner compares it with what the plan expects of the brick where it
// is placed; when a device stays slower than expected (over 1.5x for three runs in a row)
// the planner plans again on the profile with that device slowed, and the bricks that move
// do so at their next input boundary: each worker, between two frames, rebinds its own
// brick to the new device (Pipeline::move_vision / move_text) and re-pins itself. Ring
// slots already encoded stay where they are (host memory every device imports), so no
// frame is lost or reordered, and the arithmetic is the same on any CPU cluster, so the
// answers are token for token those of a stream that never moved.
// Every decision is one line (the log: `nanomind run -v`) and a `replan` event in the trace.
//
// What "expected" means: the cost model's prediction of the brick on its device, times the
// brick's own scale on this machine -- the median measured / predicted ratio of its first
// `reference_runs` runs (after `warmup_runs` that prepare graphs and pack weights). The
// scale absorbs what the cost model misses for the brick as a whole (per-op overhead, a
// profile of another machine, a sanitizer), so that drift is judged between devices as the
// profile ranks them; a device busy before the stream starts is the baseline, not a drift.
// A brick's first run on a device it moved to is a warm-up too (graphs made there, and for
// text a prompt evaluated from an empty cache). In a pipelined stream a brick that shares
// its device with the other waits for the other's runs: it is expected to take both's time.
// A low battery re-plans for energy (battery_low): the power controller's signal.
// Thread-safety: observe(), battery_low() and events() from any thread; apply_move(kind)
// only from the thread that runs that brick (its worker), between its runs.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "bricks/brick.h"
#include "runtime/pipeline.h"
#include "runtime/plan/replan.h"

namespace nm {

struct StreamReplanParams {
  // The machine's calibrated profile, or one stated for it. A device the pipeline uses (or
  // may move to) that it does not name is taken as its first device of the same kind (a
  // declared cluster cpu:1 as the profile's cpu), and said so in one line.
  DeviceProfile profile;
  std::vector<std::string> devices;  // devices bricks may move to; empty: the profile's
  plan::Objective objective = plan::Objective::latency;
  plan::ReplanOptions options;
  // Runs of a brick on a device before its times count: its graphs are prepared on first
  // use of each shape (the first answer's whole prompt; the second's first prompt after the
  // cached prefix), and weights packed.
  int warmup_runs = 2;
  int reference_runs = 3;            // then, at the start: the runs that set the brick's scale
  int prompt_tokens = 24;            // one answer's work, for the prediction (the scale absorbs a miss)
  int answer_tokens = 32;
  // One line per decision ("re-plan: ..."); null: stderr as "nanomind: re-plan: ...".
  std::function<void(const std::string&)> log;
};

struct BrickMove {
  std::string brick, from, to;  // "text", "cpu:1", "cpu:0"
};

// One re-planning decision, as the trace and the tests see it.
struct ReplanEvent {
  std::string line;               // the log line
  std::string why;
  std::string device, brick;      // the drift's device and the brick whose run completed it ("" otherwise)
  double measured_s = 0;          // that run
  double expected_s = 0;          // what the plan expected of it (prediction x the brick's scale)
  uint64_t frame = 0;             // the frame of that run
  std::vector<BrickMove> moves;   // empty: the placement stays
  std::vector<BrickMove> done;    // the moves the workers have made so far
};

class StreamReplan {
 public:
  // Plans nothing yet: reads the bricks' work from the pipeline's model files and where the
  // pipeline has put them. Errors: a brick on a device the profile does not name.
  static Result<std::unique_ptr<StreamReplan>> create(Pipeline& pipeline, StreamReplanParams params);

  // One run of `kind`'s brick on frame `frame` that took `seconds`; `overlapped`: the other
  // brick was running at the same time (a pipelined stream), so a brick sharing its device
  // with it is expected to take both bricks' time. May decide a re-plan.
  void observe(BrickKind kind, double seconds, uint64_t frame, bool overlapped);
  // The battery is low (or no longer low): plan again for energy (or the objective given).
  void battery_low(bool low);
  // Moves `kind`'s brick where the last re-plan put it, if it is elsewhere. True when it
  // moved (the caller re-pins its worker). A failed move is logged and stops re-planning;
  // the brick stays where it was.
  bool apply_move(BrickKind kind);

  std::vector<ReplanEvent> events() const;
  int moves_done() const;
  // Where the plan puts each brick now ("vision -> cpu:0, text -> cpu:1, keep").
  std::string placement() const;

 private:
  StreamReplan(Pipeline& pipeline, StreamReplanParams params) : pipe_(pipeline), params_(std::move(params)) {}
  struct BrickState {
    int index = -1;        // in the replanner's bricks
    int runs_here = 0;     // runs on its current device
    std::vector<double> reference;  // measured / predicted of the reference runs
    double scale = 0;               // their median, once all are in
    std::string target;    // device the plan puts it on ("" = where it is)
  };
  BrickState* state(BrickKind kind);
  // Logs and traces a decision; the bricks it moves get their targets. Under mu_.
  void record(ReplanEvent e, plan::Replan r, const plan::Placement& before);
  void log(const std::string& line) const;

  Pipeline& pipe_;
  StreamReplanParams params_;
  mutable std::mutex mu_;
  std::optional<plan::Replanner> replanner_;
  BrickState vision_, text_;
  plan::Objective objective_ = plan::Objective::latency;
  bool stopped_ = false;  // a move failed: the plan no longer says where the bricks are
  std::vector<ReplanEvent> events_;
  int moves_done_ = 0;
};

}  // namespace nm
