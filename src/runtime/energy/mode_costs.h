// What each power mode costs on a board, predicted from a device profile: how long each
// brick's work takes on the device it is placed on (a roofline: the slower of its
// arithmetic and its memory traffic at the profile's bandwidth, plus the device's launch
// cost per run and its cost per op (op_us x the run's ops) where the profile states them).
// The arithmetic runs at the profile's measured matmul rate for the brick's weight type
// and batch where it has one (a calibrated profile), else at an assumed fraction of the
// device's peak; where the profile measured them, attention runs at its attention rate (of
// the form the brick computes it in) and element-wise ops at its element-wise bandwidth. Then the joules that time costs at the device's active power, and how
// the three modes combine them:
//   parallel   the board stays awake with every brick resident; the camera stream is
//              encoded continuously at full rate; a question costs its text work.
//   throttled  as parallel, with the stream (frame rate and threads) scaled by alpha.
//   on-demand  the board idles with nothing resident; a question loads each brick from
//              storage, runs it and releases it, one at a time, vision included.
// Everything here is an estimate from a profile and is labelled so by its callers.
// Thread-safety: plain values and functions.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "runtime/energy/battery_life.h"
#include "runtime/profile/device_profile.h"

namespace nm::energy {

// One brick's work in one event, placed on a profile device.
struct BrickWork {
  std::string name;            // "vision", "text prefill", "text decode"
  std::string device;          // profile device name ("npu", "cpu:big")
  double flops = 0;            // arithmetic of one run
  double bytes_read = 0;       // bytes streamed from memory in one run (weights, KV)
  bool quantized = true;       // int8 dot products (quantised weights) rather than float
  double resident_bytes = 0;   // weight bytes loaded from storage in on-demand mode
  int runs = 1;                // runs per event (decode: one per answer token)
  bool per_frame = false;      // part of every camera frame's work (the vision brick)
  std::string weight_type;     // the matrices' main type ("q4_0"), for measured matmul rates
  int batch_tokens = 1;        // tokens (or patches) one run multiplies at once
  int ops = 0;                 // ops of one run the device's workers run (each costs its op_us)
  // Work charged at its own measured rate where the profile has one (a calibrated profile),
  // else as before: attention at the matmul rate, element-wise ops only through their op_us.
  double attention_flops = 0;      // the part of `flops` that is attention (scores, weighted sum)
  int attention_tokens = 0;        // one attention's queries and positions attended,
  int attention_kv = 0;            // for the profile's entry of the nearest shape
  bool attention_matmuls = false;  // run as matmuls around a softmax (vision), not the fused op
  double elementwise_bytes = 0;    // read + written by a run's element-wise ops (norms, adds,
                                   // activations, copies)
};

// Fractions of a device's peak rate that real kernels reach, by kind. The CPU figure is
// what NanoMind's packed int8 matmuls reach on the development machine (65-74% of the
// VNNI peak at batch 512, README); GPUs and NPUs get less on transformer layers.
inline constexpr double kCpuComputeEfficiency = 0.5;
inline constexpr double kAcceleratorComputeEfficiency = 0.3;

struct WorkTime {
  double seconds = 0;       // all runs
  double joules = 0;        // seconds x the device's active power
  double rate = 0;          // ops/s used for the arithmetic
  bool measured_rate = false;  // from the profile's matmul rates, not a fraction of peak
  bool memory_bound = false;
  std::string line;         // "vision on npu: 612 GFLOP at 240 GOP/s ... = 2.55 s x 0.40 W = 1.02 J"
  std::string note;         // " (incl. launch ...) [measured q4_0 x 128 matmul rate]" (part of line)
};

Result<WorkTime> estimate_work(const DeviceProfile& profile, const BrickWork& work);
// The same without power: seconds only (joules 0), for profiles that state no power
// (a calibrated one without a sensor) and for predicting times (nanomind bench).
Result<WorkTime> estimate_work_time(const DeviceProfile& profile, const BrickWork& work);

struct CameraStream {
  double fps = 0;  // frames per second at full rate; 0 = as fast as the vision brick runs
};

struct ModeCosts {
  ModePower parallel, throttled, on_demand;
  double answer_latency_s[3] = {0, 0, 0};  // question to last token, per mode
  std::vector<std::string> work_lines;     // one per brick
};

Result<ModeCosts> estimate_mode_costs(const DeviceProfile& profile, const std::vector<BrickWork>& event,
                                      const CameraStream& camera);

}  // namespace nm::energy
