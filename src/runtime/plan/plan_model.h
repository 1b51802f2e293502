// What a placement of a pipeline's bricks costs on a board, as the planner (planner.h)
// compares placements: each brick's work (energy/mode_costs.h: a roofline of its
// arithmetic and memory traffic at the profile's measured or peak rates, plus launch cost
// per run) on the device it is placed on, composed by the runtime's rules:
//   - a question (text, or camera: vision then text) runs its bricks one after the other;
//   - a camera stream pipelines them (frame_stream.h: the vision worker encodes the next
//     asked frame into a ring slot while the text worker answers this one), so its time per
//     answer in steady state is the busiest worker or device (bricks on one device take turns);
//   - residency `keep` holds every brick in memory; `on-demand` loads each brick (part) from
//     storage, runs it and releases it, one at a time, so its peak is the largest part;
//   - a text brick may be split by layers over two devices: the first `split` layers on one,
//     the rest on the other, each part doing its share of the work (the hidden state between
//     them stays in shared memory: every profiled board's devices share one DRAM).
// Edges between bricks cost nothing: the token ring is host memory every device maps in place
// (0 bytes copied, tests/runtime/pipeline_test.cpp), and every shipped profile is a SoC.
// Energy per answer = the devices' active joules + the board's base power x the answer's time.
// Thread-safety: plain values and functions.
#pragma once

#include <array>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "runtime/energy/mode_costs.h"
#include "runtime/profile/device_profile.h"

namespace nm::plan {

enum class Objective { latency, energy, edp };
Result<Objective> parse_objective(std::string_view text);  // "latency" | "energy" | "edp"
const char* objective_name(Objective o);

enum class WorkloadKind { text_question, camera_question, camera_stream };
struct Workload {
  WorkloadKind kind = WorkloadKind::camera_question;
  int frames = 1;  // camera_stream: asked frames (each gets a question, as bench --workload camera:N)
};
// "text", "camera" (one camera question) or "camera:N" (a stream of N frames, each asked).
Result<Workload> parse_workload(std::string_view text);
std::string workload_name(const Workload& w);

enum class Residency { keep, on_demand };
const char* residency_name(Residency r);  // "keep", "on-demand"

// One brick of the pipeline, in pipeline order (vision before text).
struct PlanBrick {
  std::string name;                     // "vision", "text"
  std::vector<energy::BrickWork> work;  // one answer's runs of it (their device is set per placement)
  double weight_bytes = 0;              // resident weights (what on-demand loads from storage)
  double kv_bytes = 0;                  // KV cache of one answer (split with the layers)
  double activation_bytes = 0;          // graph arena while it runs (each part needs it whole)
  int layers = 0;                       // >= 2: its layers may be split over two devices
  bool camera_only = false;             // only in camera workloads (vision)
};

// Where one brick runs: `device` alone, or its first `split` layers on `device` and the
// rest on `second` (indices into the profile's devices).
struct BrickPlace {
  int device = 0;
  int second = -1;
  int split = 0;
  bool is_split() const { return second >= 0; }
  bool operator==(const BrickPlace&) const = default;
};

struct Placement {
  std::vector<BrickPlace> bricks;  // one per PlanBrick
  Residency residency = Residency::keep;
  bool operator==(const Placement&) const = default;
};

// "vision -> npu, text -> cpu:big[0,12) + gpu[12,24), keep".
std::string placement_text(const DeviceProfile& p, const std::vector<PlanBrick>& bricks, const Placement& pl);

// One brick, or one part of a split brick, on its device.
struct PartCost {
  std::string brick;       // "text"
  std::string label;       // "text" or "text[0,12)"
  int device = 0;          // profile device index
  double fraction = 1;     // share of the brick's layers
  double seconds = 0;      // its runs
  double joules = 0;       // seconds x the device's active power (NaN where the profile states none)
  double load_seconds = 0; // on-demand: reading its weights from storage
  double load_joules = 0;
  double bytes = 0;        // weights + KV + activations it holds while it runs
  std::vector<std::string> lines;  // the cost model's arithmetic, one per work item
};

struct PlacementCost {
  double latency_s = 0;   // question: end to end; stream: time per answer in steady state
  double answer_s = 0;    // one answer from its frame (or question) to its last token
  double energy_j = 0;    // per answer: active + load + base power x latency_s (NaN: no power figures)
  double base_w = 0;      // the board's power while awake (idle_w, or awake_w when bricks stay resident)
  double peak_bytes = 0;  // keep: everything; on-demand: the largest part
  std::vector<PartCost> parts;
  std::vector<double> device_busy_s;  // per profile device, per answer
  bool has_energy() const;
};

// Parts already costed, by (brick, device, first layer, last layer, residency): a search
// costs each part once, not once per placement that contains it.
using PartCache = std::map<std::array<int, 5>, PartCost>;

// The cost of `pl`. Errors name what the profile lacks (no throughput for a device).
Result<PlacementCost> evaluate_placement(const DeviceProfile& profile, const std::vector<PlanBrick>& bricks,
                                         const Workload& workload, const Placement& pl, PartCache* cache = nullptr);

// The value the objective minimises (NaN where it needs energy the profile cannot give).
double objective_value(const PlacementCost& c, Objective o);

// The bricks the workload runs (a text question leaves the vision brick out).
bool brick_in_workload(const PlanBrick& b, const Workload& w);

// Storage read speed the profile states, else the assumption mode_costs makes (GB/s).
double storage_gbps(const DeviceProfile& p);
// What reading a model file from storage draws: one core's share of the first CPU cluster's
// active power (W; 0 where the profile states none).
double storage_read_watts(const DeviceProfile& p);

}  // namespace nm::plan
