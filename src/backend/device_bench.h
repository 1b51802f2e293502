// Per-kernel throughput of any Device through the Device interface: one-op graphs,
// decode- and prefill-sized (LLaMA-7B-like widths), best of `reps` runs after a warm-up.
// GFLOP/s for matmul and attention, GB/s (bytes read + written) for the rest. Used by
// bench/bench_opencl and `nanomind bench --device NAME`.
// Thread-safety: plain functions; the device must not be running other work meanwhile.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "backend/device.h"

namespace nm {

struct KernelBenchResult {
  std::string name;       // "matmul q4_0 5632x2048 M=1"
  double ms = 0;          // best run
  double throughput = 0;  // in `unit`
  const char* unit = "";  // "GFLOP/s" or "GB/s"
  Status status;          // not ok: the kernel could not be prepared or run here
};

// What the numbers measure: "PoCL (runs on the CPU)" for PoCL's CPU device (OpenCL
// emulated on the host: CPU numbers, not GPU numbers), else the device kind ("gpu", "cpu").
std::string device_bench_label(const Device& device);

// Times prepared work on `device`: one warm-up run (compiles, faults pages in), then runs
// until at least `min_reps` were timed and `budget_s` seconds have passed, or `max_reps`
// were timed. Returns the best run's seconds. `clock` gives monotonic seconds (default:
// steady_clock; tests pass a simulated one).
Result<double> time_executable(Device& device, Executable& exe, int min_reps, double budget_s, int max_reps,
                               const std::function<double()>& clock = {});

// Runs every kernel bench whose name contains `only` (all when empty); `on_result` is
// called after each one (for streaming output).
std::vector<KernelBenchResult> bench_device_kernels(Device& device, int reps, std::string_view only = {},
                                                    const std::function<void(const KernelBenchResult&)>& on_result = {});

}  // namespace nm
