// Mode costs from a device profile (see mode_costs.h).
#include "runtime/energy/mode_costs.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>

namespace nm::energy {

namespace {

std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* f, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, f);
  std::vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

// One CPU core's share of the first CPU cluster's active power: what reading a model
// file from storage keeps busy.
double io_watts(const DeviceProfile& p) {
  for (const ProfileDevice& d : p.devices)
    if (d.kind == "cpu" && d.cores > 0) return d.active_w.value / d.cores;
  return 0;
}

}  // namespace

Result<WorkTime> estimate_work_time(const DeviceProfile& profile, const BrickWork& w) {
  const ProfileDevice* d = profile.device(w.device);
  if (!d) {
    std::string names;
    for (const ProfileDevice& x : profile.devices) names += (names.empty() ? "" : ", ") + x.name;
    return error(ErrorCode::invalid_argument, "profile " + profile.name + " has no device '" + w.device + "' (" + names + ")");
  }
  const bool accel = d->kind != "cpu";
  const ProfileFigure* rate = nullptr;
  std::string rate_name;
  double eff = accel ? kAcceleratorComputeEfficiency : kCpuComputeEfficiency;
  const ProfileMatmul* mm = w.weight_type.empty() ? nullptr : d->matmul_for(w.weight_type, w.batch_tokens);
  if (mm) rate = &mm->gflops, rate_name = w.weight_type + " x " + std::to_string(mm->tokens) + " matmul", eff = 1.0;
  else if (w.quantized && d->int8_gops.known()) rate = &d->int8_gops, rate_name = "int8";
  else if (accel && d->f16_gflops.known()) rate = &d->f16_gflops, rate_name = "f16";
  else if (d->f32_gflops.known()) rate = &d->f32_gflops, rate_name = "f32";
  else if (d->int8_gops.known()) rate = &d->int8_gops, rate_name = "int8";
  if (!rate) return error(ErrorCode::invalid_argument, "profile " + profile.name + ": device " + d->name + " states no throughput");
  const double ops_per_s = rate->value * 1e9 * eff;
  double gbps = d->read_gbps.known() ? d->read_gbps.value : profile.read_gbps.value;
  // The weights' own streaming rate where calibration measured one (below the bandwidth
  // when the kernel dequantises as it reads).
  const ProfileMatmul* stream = w.weight_type.empty() ? nullptr : d->matmul_for(w.weight_type, 1);
  const bool streamed = stream && stream->tokens == 1 && stream->read_gbps.known() && stream->read_gbps.value < gbps;
  if (streamed) gbps = stream->read_gbps.value;
  // Attention at its own measured rate (the form and shape nearest the brick's), else with
  // the matmuls; element-wise traffic at the measured element-wise bandwidth, else free.
  const ProfileAttention* attn =
      w.attention_flops > 0 ? d->attention_for(w.attention_tokens, w.attention_kv, w.attention_matmuls) : nullptr;
  const double attn_flops = attn ? std::min(w.attention_flops, w.flops) : 0.0;
  const double t_attention = attn ? attn_flops / (attn->gflops.value * 1e9) : 0.0;
  const bool ew = w.elementwise_bytes > 0 && d->elementwise_gbps.known();
  const double t_elementwise = ew ? w.elementwise_bytes / (d->elementwise_gbps.value * 1e9) : 0.0;
  const double t_compute = (w.flops - attn_flops) / ops_per_s + t_attention + t_elementwise;
  const double t_memory = w.bytes_read / (gbps * 1e9);
  const double t_launch = d->launch_us.known() ? d->launch_us.value * 1e-6 : 0.0;
  // Each op's dispatch and join, in series with the arithmetic (the workers wait for it).
  const double t_ops = d->op_us.known() ? std::max(0, w.ops) * d->op_us.value * 1e-6 : 0.0;
  WorkTime t;
  t.rate = ops_per_s;
  t.measured_rate = mm != nullptr;
  t.memory_bound = t_memory > t_compute;
  const int runs = std::max(1, w.runs);
  t.seconds = (std::max(t_compute, t_memory) + t_launch + t_ops) * runs;
  std::string parts;
  if (attn)
    parts += fmt(" + attention %.4g GFLOP at %.4g GFLOP/s", attn_flops / 1e9, attn->gflops.value);
  if (ew) parts += fmt(" + element-wise %.4g MB at %.4g GB/s", w.elementwise_bytes / 1e6, d->elementwise_gbps.value);
  t.line = fmt("%-13s on %-10s %s%.4g GFLOP at %.0f%% of %.4g G%s/s%s = %.4g s, %.4g MB at %.4g GB/s = %.4g s -> %s-bound",
               w.name.c_str(), d->name.c_str(), runs > 1 ? fmt("%d x ", runs).c_str() : "", (w.flops - attn_flops) / 1e9,
               eff * 100, rate->value, mm ? "FLOP" : rate_name.c_str(), parts.c_str(), t_compute, w.bytes_read / 1e6, gbps,
               t_memory, t.memory_bound ? "memory" : "compute");
  if (t_launch > 0) t.note += fmt(" (incl. %.3g ms launch per run)", t_launch * 1e3);
  if (t_ops > 0) t.note += fmt(" (incl. %d ops per run x %.3g us = %.3g ms)", w.ops, d->op_us.value, t_ops * 1e3);
  if (mm) t.note += " [measured " + rate_name + " rate]";
  if (streamed) t.note += " [measured " + w.weight_type + " weights' streaming rate]";
  return t;
}

Result<WorkTime> estimate_work(const DeviceProfile& profile, const BrickWork& w) {
  NM_ASSIGN_OR_RETURN(WorkTime t, estimate_work_time(profile, w));
  const ProfileDevice* d = profile.device(w.device);
  if (!d->active_w.known())
    return error(ErrorCode::invalid_argument, "profile " + profile.name + ": device " + d->name + " states no active power");
  t.joules = t.seconds * d->active_w.value;
  t.line += fmt(": %.4g s x %.3g W = %.4g J", t.seconds, d->active_w.value, t.joules) + t.note;
  return t;
}

Result<ModeCosts> estimate_mode_costs(const DeviceProfile& profile, const std::vector<BrickWork>& event,
                                      const CameraStream& camera) {
  if (event.empty()) return error(ErrorCode::invalid_argument, "an event needs at least one brick's work");
  if (!profile.idle_w.known())
    return error(ErrorCode::invalid_argument, "profile " + profile.name + " states no idle power (calibrated without a power sensor or stand-in profile)");
  ModeCosts c;
  double frame_s = 0, frame_j = 0, question_s = 0, question_j = 0, load_s = 0, load_bytes = 0;
  for (const BrickWork& w : event) {
    NM_ASSIGN_OR_RETURN(WorkTime t, estimate_work(profile, w));
    c.work_lines.push_back(t.line);
    (w.per_frame ? frame_s : question_s) += t.seconds;
    (w.per_frame ? frame_j : question_j) += t.joules;
    load_bytes += w.resident_bytes;
  }
  const double storage_gbps = profile.storage_read_gbps.known() ? profile.storage_read_gbps.value : 0.1;
  load_s = load_bytes / (storage_gbps * 1e9);
  const double load_j = load_s * io_watts(profile);
  const bool awake_known = profile.awake_w.known();
  const double awake_w = awake_known ? profile.awake_w.value : profile.idle_w.value;

  // The camera stream between questions: frames encoded back to back, or at the camera's rate.
  double frames_per_s = 0;
  if (frame_s > 0) frames_per_s = camera.fps > 0 ? std::min(camera.fps, 1.0 / frame_s) : 1.0 / frame_s;
  const double stream_w = frames_per_s * frame_j;

  ModePower par;
  par.mode = PowerMode::parallel;
  par.base_w = awake_w;
  par.stream_w = stream_w;
  par.event_j = question_j;
  par.why.push_back(fmt("base: %s %.3f W (%s)", awake_known ? "awake" : "idle", awake_w,
                        awake_known ? "bricks resident, devices held awake" : "the profile states no awake power: idle assumed"));
  par.why.push_back(fmt("stream: %.2f frames/s x %.2f J per frame = %.3f W", frames_per_s, frame_j, stream_w));
  par.why.push_back(fmt("question: %.2f J of text work (the frame is already encoded)", question_j));
  c.parallel = par;

  ModePower thr = par;
  thr.mode = PowerMode::throttled;
  thr.why[1] = fmt("stream: alpha x %.2f frames/s x %.2f J per frame = alpha x %.3f W", frames_per_s, frame_j, stream_w);
  c.throttled = thr;

  ModePower ond;
  ond.mode = PowerMode::on_demand;
  ond.base_w = profile.idle_w.value;
  ond.stream_w = 0;
  ond.event_j = frame_j + question_j + load_j;
  ond.why.push_back(fmt("base: idle %.3f W (nothing resident between events)", profile.idle_w.value));
  ond.why.push_back("stream: none (no frame is taken between events)");
  ond.why.push_back(fmt("question: load %.1f MB at %.2f GB/s%s = %.2f s x %.2f W = %.2f J, + frame %.2f J + text %.2f J = %.2f J",
                        load_bytes / 1e6, storage_gbps, profile.storage_read_gbps.known() ? "" : " (assumed: the profile states none)",
                        load_s, io_watts(profile), load_j, frame_j, question_j, ond.event_j));
  c.on_demand = ond;

  c.answer_latency_s[0] = question_s;
  c.answer_latency_s[1] = question_s;
  c.answer_latency_s[2] = load_s + frame_s + question_s;
  return c;
}

}  // namespace nm::energy
