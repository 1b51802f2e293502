// Plan reports (see plan_report.h).
#include "runtime/plan/plan_report.h"

#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace nm::plan {

namespace {

std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* f, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, f);
  std::vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

std::string joules_text(double j) { return std::isfinite(j) ? fmt("%.3g J", j) : std::string("? J (no power figure)"); }

std::string summary(const PlanChoice& c) {
  return fmt("%.4g s per answer%s, %s per answer, peak %s", c.cost.latency_s,
             c.cost.answer_s != c.cost.latency_s ? fmt(" (each answer %.4g s from its frame)", c.cost.answer_s).c_str() : "",
             joules_text(c.cost.energy_j).c_str(), bytes_text(c.cost.peak_bytes).c_str());
}

std::string budget_text(double b) { return b > 0 ? "memory budget " + bytes_text(b) : std::string("no memory budget"); }

}  // namespace

std::string plan_text(const PlanContext& ctx, const PlanResult& r, bool verbose) {
  const DeviceProfile& p = *ctx.profile;
  const std::vector<PlanBrick>& bricks = *ctx.bricks;
  const PlanRequest& q = ctx.request;
  std::string s;
  s += fmt("PREDICTION from device profile %s (%s) -- not a measurement\n", p.name.c_str(), ctx.profile_why.c_str());
  s += fmt("workload %s, objective %s, %s%s\n", workload_name(q.workload).c_str(), objective_name(q.objective),
           budget_text(q.mem_budget_bytes).c_str(), q.allow_split ? ", layer splits allowed" : "");
  if (!ctx.model.empty()) s += "model: " + ctx.model + "\n";
  for (const std::string& n : ctx.notes) s += "  " + n + "\n";
  s += "placement: " + placement_text(p, bricks, r.best.placement) + "\n";
  for (const PartCost& pc : r.best.cost.parts) {
    s += fmt("  %-14s on %-10s %9.4g s  %14s  holds %s", pc.label.c_str(), p.devices[(size_t)pc.device].name.c_str(),
             pc.seconds, joules_text(pc.joules).c_str(), bytes_text(pc.bytes).c_str());
    if (pc.load_seconds > 0) s += fmt("  (+ load %.3g s, %s)", pc.load_seconds, joules_text(pc.load_joules).c_str());
    s += "\n";
  }
  const PlacementCost& c = r.best.cost;
  s += "predicted: " + summary(r.best) + "\n";
  if (c.has_energy()) {
    double active = 0;
    for (const PartCost& pc : c.parts) active += pc.joules + pc.load_joules;
    s += fmt("  energy = devices %.4g J + board %.3g W x %.4g s\n", active, c.base_w, c.latency_s);
  }
  if (q.workload.kind == WorkloadKind::camera_stream && r.best.placement.residency == Residency::keep)
    s += "  a stream pipelines its bricks (vision encodes the next frame while text answers): the busiest worker or device sets the pace\n";
  if (r.runner_up) {
    const double gain = r.runner_up->objective / r.best.objective - 1.0;
    s += "runner-up: " + placement_text(p, bricks, r.runner_up->placement) + ": " + summary(*r.runner_up) +
         fmt(" -- %s %+.1f%%\n", objective_name(q.objective), 100.0 * gain);
  } else {
    s += "runner-up: none (one feasible placement)\n";
  }
  s += fmt("searched %lld placements exhaustively (%lld over the memory budget)\n", static_cast<long long>(r.candidates),
           static_cast<long long>(r.over_budget));
  if (verbose) {
    s += "cost model:\n";
    for (const PartCost& pc : c.parts)
      for (const std::string& l : pc.lines) s += "  " + l + "\n";
  }
  return s;
}

namespace {

nlohmann::json choice_json(const PlanContext& ctx, const PlanChoice& c) {
  const DeviceProfile& p = *ctx.profile;
  nlohmann::json j;
  j["placement"] = placement_text(p, *ctx.bricks, c.placement);
  j["residency"] = residency_name(c.placement.residency);
  nlohmann::json places = nlohmann::json::array();
  for (size_t i = 0; i < c.placement.bricks.size(); ++i) {
    if (!brick_in_workload((*ctx.bricks)[i], ctx.request.workload)) continue;
    const BrickPlace& b = c.placement.bricks[i];
    nlohmann::json x{{"brick", (*ctx.bricks)[i].name}, {"device", p.devices[(size_t)b.device].name}};
    if (b.is_split()) x["split"] = {{"layers", (*ctx.bricks)[i].layers}, {"first_device_layers", b.split},
                                    {"second_device", p.devices[(size_t)b.second].name}};
    places.push_back(x);
  }
  j["bricks"] = places;
  nlohmann::json parts = nlohmann::json::array();
  for (const PartCost& pc : c.cost.parts) {
    nlohmann::json x{{"part", pc.label},         {"device", p.devices[(size_t)pc.device].name},
                     {"seconds", pc.seconds},     {"bytes", pc.bytes},
                     {"load_seconds", pc.load_seconds}};
    x["joules"] = std::isfinite(pc.joules) ? nlohmann::json(pc.joules) : nlohmann::json(nullptr);
    parts.push_back(x);
  }
  j["parts"] = parts;
  j["seconds_per_answer"] = c.cost.latency_s;
  j["answer_seconds"] = c.cost.answer_s;
  j["joules_per_answer"] = c.cost.has_energy() ? nlohmann::json(c.cost.energy_j) : nlohmann::json(nullptr);
  j["peak_bytes"] = c.cost.peak_bytes;
  j["objective"] = std::isfinite(c.objective) ? nlohmann::json(c.objective) : nlohmann::json(nullptr);
  return j;
}

}  // namespace

std::string plan_json(const PlanContext& ctx, const PlanResult& r) {
  nlohmann::json j;
  j["prediction"] = true;  // from a device profile, not a measurement
  j["profile"] = {{"name", ctx.profile->name}, {"origin", ctx.profile->origin}, {"why", ctx.profile_why}};
  j["workload"] = workload_name(ctx.request.workload);
  j["objective"] = objective_name(ctx.request.objective);
  j["mem_budget_bytes"] = ctx.request.mem_budget_bytes;
  j["allow_split"] = ctx.request.allow_split;
  j["model"] = ctx.model;
  j["notes"] = ctx.notes;
  j["best"] = choice_json(ctx, r.best);
  j["runner_up"] = r.runner_up ? choice_json(ctx, *r.runner_up) : nlohmann::json(nullptr);
  j["candidates"] = r.candidates;
  j["over_budget"] = r.over_budget;
  return j.dump(2) + "\n";
}

}  // namespace nm::plan
