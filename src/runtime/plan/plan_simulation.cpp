// Discrete-event simulation of a placement (see plan_simulation.h).
#include "runtime/plan/plan_simulation.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace nm::plan {

namespace {

struct Step {
  std::string what;
  double seconds = 0, joules = 0;
};

// One brick's runs for one frame, on its device, in order: its work items (prefill, decode).
struct BrickPlan {
  int device = 0;
  std::string name;
  std::vector<Step> steps;
  Step load;  // reading its weights from storage
};

class Simulator {
 public:
  Simulator(std::vector<BrickPlan> b, int n_dev, const SimOptions& o, bool on_demand)
      : b_(std::move(b)), o_(o), on_demand_(on_demand), device_free_((size_t)n_dev, 0.0) {
    const size_t n = b_.size();
    end_.assign(n, std::vector<double>((size_t)o.frames, -1));
    release_.assign(n, std::vector<double>((size_t)o.frames, -1));
    worker_free_.assign(n, 0.0);
    next_.assign(n, 0);
    loaded_.assign(n, false);
  }

  void run_sequential() {
    double t = 0;
    for (int f = 0; f < o_.frames; ++f)
      for (size_t j = 0; j < b_.size(); ++j) t = run(j, f, t);
  }

  void run_pipelined() {
    for (;;) {
      int pick = -1;
      double best = 0;
      for (size_t j = 0; j < b_.size(); ++j) {
        const int f = next_[j];
        if (f >= o_.frames) continue;
        double start = std::max(worker_free_[j], device_free_[(size_t)b_[j].device]);
        if (j > 0) {  // the frame's input, from the brick before
          if (end_[j - 1][(size_t)f] < 0) continue;
          start = std::max(start, end_[j - 1][(size_t)f]);
        }
        if (j + 1 < b_.size() && f >= o_.ring_slots) {  // a free ring slot: its last user read it
          const double freed = release_[j + 1][(size_t)(f - o_.ring_slots)];
          if (freed < 0) continue;
          start = std::max(start, freed);
        }
        // Earliest first; at a tie the older frame, then the earlier brick.
        if (pick < 0 || start < best || (start == best && f < next_[(size_t)pick])) pick = static_cast<int>(j), best = start;
      }
      if (pick < 0) return;
      const size_t j = (size_t)pick;
      worker_free_[j] = run(j, next_[j]++, best);
    }
  }

  std::vector<SimEvent> events;
  std::vector<std::vector<double>> end_;  // [brick][frame]: its last step's end
  double joules = 0;

 private:
  // Runs brick j on frame f from `t` (device held throughout); returns its end.
  double run(size_t j, int f, double t) {
    BrickPlan& b = b_[j];
    auto add = [&](const Step& s, const std::string& brick) {
      events.push_back(SimEvent{b.device, brick, s.what, f, t, t + s.seconds});
      joules += s.joules;
      t += s.seconds;
    };
    if (on_demand_ || !loaded_[j]) {
      if (b.load.seconds > 0) add(b.load, b.name);
      loaded_[j] = true;
    }
    for (size_t k = 0; k < b.steps.size(); ++k) {
      add(b.steps[k], b.name);
      if (k == 0) release_[j][(size_t)f] = t;  // the slot it read is free once its first step ran
    }
    device_free_[(size_t)b.device] = t;
    end_[j][(size_t)f] = t;
    return t;
  }

  std::vector<BrickPlan> b_;
  SimOptions o_;
  bool on_demand_;
  std::vector<double> device_free_, worker_free_;
  std::vector<std::vector<double>> release_;
  std::vector<int> next_;
  std::vector<bool> loaded_;
};

}  // namespace

Result<SimResult> simulate(const DeviceProfile& profile, const std::vector<PlanBrick>& bricks, const Workload& workload,
                           const Placement& pl, const SimOptions& o) {
  if (o.frames < 1 || o.ring_slots < 1) return error(ErrorCode::invalid_argument, "a simulation needs frames and ring slots");
  NM_ASSIGN_OR_RETURN(PlacementCost cost, evaluate_placement(profile, bricks, workload, pl));
  std::vector<BrickPlan> chain;
  for (size_t i = 0; i < bricks.size(); ++i) {
    if (!brick_in_workload(bricks[i], workload)) continue;
    const BrickPlace& place = pl.bricks[i];
    if (place.is_split())
      return error(ErrorCode::invalid_argument,
                   "the simulation replays the runtime, which cannot run a layer split yet (plan without --allow-split)");
    BrickPlan b;
    b.device = place.device;
    b.name = bricks[i].name;
    const ProfileDevice& d = profile.devices[(size_t)place.device];
    const double watts = d.active_w.known() ? d.active_w.value : NAN;
    for (energy::BrickWork w : bricks[i].work) {
      w.device = d.name;
      NM_ASSIGN_OR_RETURN(energy::WorkTime t, energy::estimate_work_time(profile, w));
      std::string what = w.name.rfind(b.name + " ", 0) == 0 ? w.name.substr(b.name.size() + 1) : "encode";
      b.steps.push_back(Step{what, t.seconds, t.seconds * watts});
    }
    b.load.what = "load";
    b.load.seconds = bricks[i].weight_bytes / (storage_gbps(profile) * 1e9);
    b.load.joules = b.load.seconds * storage_read_watts(profile);
    chain.push_back(std::move(b));
  }
  const int frames = workload.kind == WorkloadKind::camera_stream ? workload.frames : 1;
  SimOptions opt = o;
  opt.frames = frames;
  const bool on_demand = pl.residency == Residency::on_demand;
  Simulator sim(std::move(chain), static_cast<int>(profile.devices.size()), opt, on_demand);
  if (o.pipelined && !on_demand) sim.run_pipelined();
  else sim.run_sequential();

  SimResult r;
  r.events = std::move(sim.events);
  std::stable_sort(r.events.begin(), r.events.end(), [](const SimEvent& a, const SimEvent& b) { return a.start < b.start; });
  r.answers = frames;
  r.first_answer_s = sim.end_.back()[0];
  r.total_s = sim.end_.back()[(size_t)frames - 1];
  r.answers_per_minute = r.total_s > 0 ? 60.0 * frames / r.total_s : 0;
  r.joules_per_answer = (sim.joules + cost.base_w * r.total_s) / frames;
  r.peak_bytes = cost.peak_bytes;
  return r;
}

namespace {

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace

std::string timeline_svg(const DeviceProfile& profile, const SimResult& sim, const std::string& title) {
  constexpr double kLeft = 130, kWidth = 1000, kLane = 36, kTop = 56;
  constexpr size_t kMaxBoxes = 4000;
  const size_t n_dev = profile.devices.size();
  const double height = kTop + kLane * static_cast<double>(n_dev) + 40;
  const double scale = sim.total_s > 0 ? (kWidth - kLeft - 20) / sim.total_s : 0;
  char buf[512];
  std::string s;
  std::snprintf(buf, sizeof buf,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" font-size=\"12\">\n",
                kWidth, height);
  s += buf;
  s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s += "<text x=\"8\" y=\"18\" font-size=\"14\">" + xml_escape(title) + "</text>\n";
  s += "<text x=\"8\" y=\"36\" fill=\"#a00\">SIMULATION from device profile " + xml_escape(profile.name) +
       ": predicted, not measured</text>\n";
  for (size_t d = 0; d < n_dev; ++d) {
    const double y = kTop + kLane * static_cast<double>(d);
    std::snprintf(buf, sizeof buf, "<rect x=\"%.0f\" y=\"%.1f\" width=\"%.0f\" height=\"%.0f\" fill=\"%s\"/>\n", kLeft, y,
                  kWidth - kLeft - 20, kLane - 4, d % 2 ? "#f4f4f4" : "#ebebeb");
    s += buf;
    std::snprintf(buf, sizeof buf, "<text x=\"8\" y=\"%.1f\">", y + kLane / 2 + 2);
    s += buf + xml_escape(profile.devices[d].name) + "</text>\n";
  }
  size_t drawn = 0;
  for (const SimEvent& e : sim.events) {
    if (drawn++ == kMaxBoxes) break;
    const double y = kTop + kLane * static_cast<double>(e.device);
    const char* fill = e.what == "load" ? "#bab0ac" : e.brick == "vision" ? "#4e79a7" : e.what == "prefill" ? "#f28e2b" : "#e15759";
    std::snprintf(buf, sizeof buf,
                  "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.0f\" fill=\"%s\" stroke=\"white\" stroke-width=\"0.5\">"
                  "<title>%s %s frame %d: %.4g-%.4g s</title></rect>\n",
                  kLeft + e.start * scale, y + 2, std::max(0.5, (e.end - e.start) * scale), kLane - 8, fill,
                  xml_escape(e.brick).c_str(), xml_escape(e.what).c_str(), e.frame, e.start, e.end);
    s += buf;
  }
  const double axis_y = kTop + kLane * static_cast<double>(n_dev) + 14;
  for (int i = 0; i <= 5; ++i) {
    const double t = sim.total_s * i / 5.0;
    std::snprintf(buf, sizeof buf, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.3g s</text>\n", kLeft + t * scale,
                  axis_y, t);
    s += buf;
  }
  if (sim.events.size() > kMaxBoxes) {
    std::snprintf(buf, sizeof buf, "<text x=\"%.0f\" y=\"%.1f\">(first %zu of %zu runs drawn)</text>\n", kLeft, axis_y + 16,
                  kMaxBoxes, sim.events.size());
    s += buf;
  }
  s += "<text x=\"" + std::to_string(static_cast<int>(kWidth - 330)) + "\" y=\"" + std::to_string(static_cast<int>(axis_y + 16)) +
       "\"><tspan fill=\"#4e79a7\">vision</tspan> <tspan fill=\"#f28e2b\">prefill</tspan> <tspan fill=\"#e15759\">decode</tspan> "
       "<tspan fill=\"#bab0ac\">load</tspan></text>\n";
  return s + "</svg>\n";
}

}  // namespace nm::plan
