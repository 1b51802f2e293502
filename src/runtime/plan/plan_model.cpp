// Placement costs (see plan_model.h).
#include "runtime/plan/plan_model.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace nm::plan {

Result<Objective> parse_objective(std::string_view t) {
  if (t == "latency") return Objective::latency;
  if (t == "energy") return Objective::energy;
  if (t == "edp") return Objective::edp;
  return error(ErrorCode::invalid_argument,
               "--objective '" + std::string(t) + "': expected latency, energy or edp (energy x delay)");
}

const char* objective_name(Objective o) {
  switch (o) {
    case Objective::latency: return "latency";
    case Objective::energy: return "energy";
    case Objective::edp: return "edp";
  }
  return "?";
}

Result<Workload> parse_workload(std::string_view t) {
  Workload w;
  if (t == "text") {
    w.kind = WorkloadKind::text_question;
    return w;
  }
  if (t == "camera") {
    w.kind = WorkloadKind::camera_question;
    return w;
  }
  if (t.substr(0, 7) == "camera:") {
    const std::string_view n = t.substr(7);
    int frames = 0;
    auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), frames);
    if (ec == std::errc() && end == n.data() + n.size() && frames >= 1 && frames <= 100000) {
      w.kind = WorkloadKind::camera_stream;
      w.frames = frames;
      return w;
    }
  }
  return error(ErrorCode::invalid_argument, "workload '" + std::string(t) +
                                                "': expected text, camera (one camera question) or camera:N "
                                                "(a stream of N frames, each with a question; N in [1, 100000])");
}

std::string workload_name(const Workload& w) {
  switch (w.kind) {
    case WorkloadKind::text_question: return "text";
    case WorkloadKind::camera_question: return "camera";
    case WorkloadKind::camera_stream: return "camera:" + std::to_string(w.frames);
  }
  return "?";
}

const char* residency_name(Residency r) { return r == Residency::keep ? "keep" : "on-demand"; }

bool brick_in_workload(const PlanBrick& b, const Workload& w) {
  return !b.camera_only || w.kind != WorkloadKind::text_question;
}

double storage_gbps(const DeviceProfile& p) {
  return p.storage_read_gbps.known() ? p.storage_read_gbps.value : 0.1;  // as mode_costs assumes
}

double storage_read_watts(const DeviceProfile& p) {
  for (const ProfileDevice& d : p.devices)
    if (d.kind == "cpu" && d.cores > 0 && d.active_w.known()) return d.active_w.value / d.cores;
  return 0;
}

std::string placement_text(const DeviceProfile& p, const std::vector<PlanBrick>& bricks, const Placement& pl) {
  std::string s;
  for (size_t i = 0; i < bricks.size() && i < pl.bricks.size(); ++i) {
    const BrickPlace& b = pl.bricks[i];
    s += (s.empty() ? "" : ", ") + bricks[i].name + " -> " + p.devices[(size_t)b.device].name;
    if (b.is_split())
      s += "[0," + std::to_string(b.split) + ") + " + p.devices[(size_t)b.second].name + "[" + std::to_string(b.split) +
           "," + std::to_string(bricks[i].layers) + ")";
  }
  return s + ", " + residency_name(pl.residency);
}

namespace {

Result<PartCost> part_cost(const DeviceProfile& profile, const PlanBrick& b, int device, int first, int last,
                           Residency residency) {
  PartCost c;
  c.brick = b.name;
  c.device = device;
  const bool whole = first == 0 && (b.layers < 2 || last == b.layers);
  c.fraction = whole ? 1.0 : static_cast<double>(last - first) / b.layers;
  c.label = whole ? b.name : b.name + "[" + std::to_string(first) + "," + std::to_string(last) + ")";
  const ProfileDevice& d = profile.devices[(size_t)device];
  for (energy::BrickWork w : b.work) {
    w.device = d.name;
    w.flops *= c.fraction;
    w.bytes_read *= c.fraction;
    w.name = whole ? w.name : w.name + " " + c.label.substr(b.name.size());
    NM_ASSIGN_OR_RETURN(energy::WorkTime t, energy::estimate_work_time(profile, w));
    c.seconds += t.seconds;
    c.lines.push_back(t.line + t.note);
  }
  c.joules = d.active_w.known() ? c.seconds * d.active_w.value : NAN;
  const double weights = b.weight_bytes * c.fraction;
  c.bytes = weights + b.kv_bytes * c.fraction + b.activation_bytes;
  if (residency == Residency::on_demand) {
    c.load_seconds = weights / (storage_gbps(profile) * 1e9);
    c.load_joules = c.load_seconds * storage_read_watts(profile);
  }
  return c;
}

}  // namespace

bool PlacementCost::has_energy() const { return std::isfinite(energy_j); }

Result<PlacementCost> evaluate_placement(const DeviceProfile& profile, const std::vector<PlanBrick>& bricks,
                                         const Workload& workload, const Placement& pl, PartCache* cache) {
  if (pl.bricks.size() != bricks.size())
    return error(ErrorCode::invalid_argument, "a placement needs one place per brick");
  const int n_dev = static_cast<int>(profile.devices.size());
  PlacementCost c;
  c.device_busy_s.assign((size_t)n_dev, 0.0);
  std::vector<double> worker_busy;  // one worker per brick (its parts run in turn)
  for (size_t i = 0; i < bricks.size(); ++i) {
    const PlanBrick& b = bricks[i];
    if (!brick_in_workload(b, workload)) continue;
    const BrickPlace& p = pl.bricks[i];
    const bool bad_split = p.is_split() && (b.layers < 2 || p.split < 1 || p.split >= b.layers || p.second == p.device ||
                                            p.second >= n_dev);
    if (p.device < 0 || p.device >= n_dev || bad_split)
      return error(ErrorCode::invalid_argument, "brick " + b.name + ": place out of range");
    double worker = 0;
    for (int part = 0; part < (p.is_split() ? 2 : 1); ++part) {
      const int dev = part == 0 ? p.device : p.second;
      const int first = part == 0 ? 0 : p.split;
      const int last = p.is_split() && part == 0 ? p.split : std::max(b.layers, 1);
      const std::array<int, 5> key{static_cast<int>(i), dev, first, last, static_cast<int>(pl.residency)};
      auto hit = cache ? cache->find(key) : PartCache::iterator();
      if (!cache || hit == cache->end()) {
        NM_ASSIGN_OR_RETURN(PartCost fresh, part_cost(profile, b, dev, first, last, pl.residency));
        if (!cache) {
          c.parts.push_back(std::move(fresh));
        } else {
          hit = cache->emplace(key, std::move(fresh)).first;
        }
      }
      if (cache) c.parts.push_back(hit->second);
      const PartCost& pc = c.parts.back();
      c.device_busy_s[(size_t)dev] += pc.seconds;
      worker += pc.seconds;
      c.answer_s += pc.seconds + pc.load_seconds;
    }
    worker_busy.push_back(worker);
  }
  if (c.parts.empty()) return error(ErrorCode::invalid_argument, "the workload runs none of the pipeline's bricks");

  double active_j = 0, held = 0, largest = 0;
  for (const PartCost& pc : c.parts) {
    active_j += pc.joules + pc.load_joules;
    held += pc.bytes;
    largest = std::max(largest, pc.bytes);
  }
  const bool stream = workload.kind == WorkloadKind::camera_stream;
  if (pl.residency == Residency::keep) {
    c.peak_bytes = held;
    // Pipelined, the busiest worker or device sets the pace; a question waits for each brick.
    c.latency_s = c.answer_s;
    if (stream) {
      double pace = 0;
      for (double w : worker_busy) pace = std::max(pace, w);
      for (double d : c.device_busy_s) pace = std::max(pace, d);
      c.latency_s = pace;
    }
  } else {
    // One part at a time, loaded, run and released: nothing overlaps, even in a stream.
    c.peak_bytes = largest;
    c.latency_s = c.answer_s;
  }
  const bool awake = pl.residency == Residency::keep && profile.awake_w.known();
  c.base_w = awake ? profile.awake_w.value : profile.idle_w.value;
  c.energy_j = active_j + c.base_w * c.latency_s;  // NaN propagates from an unknown power
  return c;
}

double objective_value(const PlacementCost& c, Objective o) {
  switch (o) {
    case Objective::latency: return c.latency_s;
    case Objective::energy: return c.energy_j;
    case Objective::edp: return c.energy_j * c.latency_s;
  }
  return NAN;
}

}  // namespace nm::plan
