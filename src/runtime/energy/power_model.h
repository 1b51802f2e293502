// PowerModel: the figures the model-based energy estimate uses, taken from a device
// profile: the board's power when idle, and for each compute device the power it adds
// while fully busy. An estimate is idle watts x wall time + each device's added watts x
// the time bricks kept it busy (scaled by the share of its cores they used). It is never
// a measurement, and everything that prints one says "estimated".
// Thread-safety: immutable after construction.
#pragma once

#include <string>
#include <vector>

namespace nm::energy {

struct DevicePower {
  std::string name;      // profile device name: "cpu", "cpu:big", "gpu", "npu"
  std::string kind;      // "cpu", "gpu", "npu"
  double active_w = 0;   // added to the board's idle power while the device is fully busy
  int cores = 0;         // CPU clusters: how many cores active_w is for (0: unknown)
};

struct PowerModel {
  std::string profile;   // "rk3566", or a file's name
  double idle_w = 0;     // whole board, idle, nothing loaded
  std::vector<DevicePower> devices;

  // The profile device that a runtime device ("cpu", "cpu:big", "cpu:0", "opencl:0",
  // "npu") stands for: the same name, else the first device of its kind — `kind` when
  // the caller knows it ("cpu" for PoCL, which runs OpenCL on the CPU), else guessed from
  // the name (OpenCL devices are GPUs). nullptr when the profile has none of that kind.
  const DevicePower* match(const std::string& runtime_device, const std::string& kind = {}) const;

  // Watts a brick adds while it runs on `runtime_device` with `threads` threads (0: all
  // cores); 0 when the device is unknown to the profile.
  double busy_watts(const std::string& runtime_device, int threads = 0, const std::string& kind = {}) const;
};

}  // namespace nm::energy
