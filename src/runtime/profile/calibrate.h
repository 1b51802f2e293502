// Calibration (`nanomind calibrate`, issue 15 item 1): measures what each device of this
// machine does with the work bricks give it, and writes it as a calibrated device profile
// (docs/PROFILES.md) for the planner's cost model and the energy estimate:
//   - matrix products per weight type in the decode shape (1 token) and a prefill shape
//     (128 tokens), through the device's own prepare/run (on a CPU cluster with the packed
//     weight copies the text brick uses), as GFLOP/s. The weights are small enough to stay
//     in cache: this is the device's arithmetic ceiling; the cost model bounds it by the
//     read bandwidth for weights streamed from DRAM (a roofline);
//   - attention in both shapes, as the text bricks' fused op and as the vision brick's
//     matmuls around a softmax; element-wise ops as a transformer layer runs them (norm,
//     bias add, GELU, residual add, transposing copy); read bandwidth and peak f32 FMA rate
//     (Device::measure_speed); the fixed cost of one graph run (launch_us: after a pause,
//     so a CPU cluster wakes its idle workers), of each op in it (op_us: a chain of tiny
//     matmuls against a chain of one) and of making host memory usable by the device (map_us);
//   - power where a sensor exists (board idle, and each device busy minus idle). Where
//     none does the power figures are copied from the machine's estimate profile, marked
//     as estimates saying so: a calibrated profile never passes off a guess as measured.
// Each measurement runs for a time budget after a warm-up (best run kept), the most used
// weight types first, and the whole stops at a deadline (max_total_s), so calibration
// takes under two minutes even where PoCL must compile every kernel first.
// Thread-safety: plain functions; the devices must not run other work meanwhile.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "backend/device.h"
#include "core/dtype.h"
#include "runtime/energy/energy_monitor.h"
#include "runtime/profile/device_profile.h"

namespace nm {

struct CalibrationOptions {
  // Weight types measured; empty: every type a GGUF brick commonly holds.
  std::vector<DType> weight_types;
  int prefill_tokens = 128;
  size_t read_bytes = size_t{512} << 20;  // buffer of a CPU cluster's bandwidth measurement
  double budget_s = 0.15;  // timed runs of one measurement after its warm-up (at least one run)
  // Whole calibration: once past it, the remaining measurements are skipped (each says so)
  // and the profile holds what was measured. Matters on PoCL, whose first run of each
  // kernel compiles it (seconds each on a loaded machine).
  double max_total_s = 100;
  // Stand-in power figures where no sensor measures them: a shipped name or a file ("":
  // this machine's estimate profile, see energy/machine_energy.h).
  std::string power_profile;
  energy::EnergyMonitor* monitor = nullptr;  // measures power when it has a sensor (may be null)
  std::function<void(const std::string&)> progress;  // one line per measurement
  std::function<double()> clock;                     // monotonic seconds; tests simulate it
  // Identity written into the profile (calibration_store.h gives the real ones).
  std::string name = "calibrated";
  std::string machine, build;
  int64_t created = 0;  // Unix time
};

// The weight types measured by default.
std::vector<DType> default_calibration_types();

// Measures `devices` and returns the calibrated profile. A measurement a device cannot run
// (an unsupported type) is left out with a progress line; a device none of whose
// measurements ran is an error naming it.
Result<DeviceProfile> calibrate_devices(const std::vector<Device*>& devices, const CalibrationOptions& options);

}  // namespace nm
