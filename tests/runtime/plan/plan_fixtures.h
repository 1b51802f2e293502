// Hand-made boards and bricks for the planner's tests: figures without sources, devices of
// a stated peak rate and power, and work items of a stated arithmetic with no memory
// traffic, so that every time the cost model gives is worked out by hand.
#pragma once

#include <string>
#include <vector>

#include "runtime/plan/plan_model.h"

namespace nm::plan::test {

inline ProfileFigure fig(double v) { return ProfileFigure{v, "s", false, ""}; }

// A device of `gflops` f32 peak drawing `watts` when busy; CPUs need cores.
inline ProfileDevice device(const std::string& name, const std::string& kind, double gflops, double watts, int cores = 0) {
  ProfileDevice d;
  d.name = name;
  d.kind = kind;
  d.cores = kind == "cpu" ? (cores > 0 ? cores : 1) : 0;
  d.f32_gflops = fig(gflops);
  d.active_w = fig(watts);
  return d;
}

// A board of these devices: idle power, 10 GB/s read bandwidth, storage at `storage_gbps`.
inline DeviceProfile board(std::vector<ProfileDevice> devices, double idle_w = 1, double storage_gbps = 1) {
  DeviceProfile p;
  p.name = "hand";
  p.origin = "published";
  p.idle_w = fig(idle_w);
  p.read_gbps = fig(10);
  p.storage_read_gbps = fig(storage_gbps);
  p.devices = std::move(devices);
  return p;
}

// `gflop` of f32 arithmetic and no memory traffic, one run.
inline energy::BrickWork work_item(const std::string& name, double gflop) {
  energy::BrickWork w;
  w.name = name;
  w.flops = gflop * 1e9;
  w.quantized = false;
  return w;
}

// A vision brick (camera workloads only) and a text brick (prefill, decode) of these sizes.
inline std::vector<PlanBrick> vision_and_text(double vision_gflop, double prefill_gflop, double decode_gflop,
                                              double vision_mb = 0, double text_mb = 0) {
  PlanBrick v;
  v.name = "vision";
  v.camera_only = true;
  v.work = {work_item("vision", vision_gflop)};
  v.weight_bytes = vision_mb * 1e6;
  PlanBrick t;
  t.name = "text";
  t.work = {work_item("text prefill", prefill_gflop), work_item("text decode", decode_gflop)};
  t.weight_bytes = text_mb * 1e6;
  return {v, t};
}

}  // namespace nm::plan::test
