// bench_opencl: throughput of each kernel of a device through the Device interface
// (backend/device_bench.h: one-op graphs, decode- and prefill-sized). Reports GFLOP/s for
// matmul/attention and GB/s (bytes read + written) for the rest. Every row says what it
// ran on; on PoCL the "GPU" is the CPU, so rows read "PoCL (runs on the CPU)".
// Usage: bench_opencl [--device NAME] [--reps N] [--only SUBSTRING]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "backend/device_bench.h"
#include "backend/device_registry.h"

int main(int argc, char** argv) {
  std::string device = "opencl";
  int reps = 5;
  std::string only;  // run only benches whose name contains this
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--device")) device = argv[i + 1];
    if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--only")) only = argv[i + 1];
  }
  nm::DeviceRegistry reg = nm::DeviceRegistry::create();
  nm::Device* dev = reg.find(device);
  if (!dev) {
    std::printf("bench_opencl: no device '%s' on this machine\n", device.c_str());
    return 0;
  }
  const std::string label = nm::device_bench_label(*dev);
  std::printf("device %s: %s\n", dev->name().c_str(), dev->description().c_str());
  if (label.find("CPU") != std::string::npos) {
    std::printf("*** PoCL runs OpenCL on the CPU: these are CPU numbers, not GPU numbers ***\n");
  }
  std::printf("%-36s %10s %12s  %s\n", "kernel", "ms/run", "throughput", "on");
  nm::bench_device_kernels(*dev, reps, only, [&](const nm::KernelBenchResult& r) {
    if (!r.status.ok()) {
      std::printf("%-36s %s\n", r.name.c_str(), r.status.to_string().c_str());
    } else {
      std::printf("%-36s %10.3f %9.1f %-7s  %s\n", r.name.c_str(), r.ms, r.throughput, r.unit, label.c_str());
    }
    std::fflush(stdout);
  });
  return 0;
}
