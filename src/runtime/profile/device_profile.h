// DeviceProfile: what a machine's compute devices can do and what they draw, as the
// planner's cost model (issue 15) and the energy estimate read it. One JSON schema for
// both kinds of profile: "published" ones shipped in profiles/ for boards we cannot
// touch (RK3566, RK3588, Jetson Orin Nano, Raspberry Pi 5), where every number names its
// public source and says when it is an estimate; and "calibrated" ones that `nanomind
// calibrate` measures on this machine (source "measured"). The schema is documented in
// docs/PROFILES.md; the parser refuses anything it does not describe (unknown keys,
// missing sources, out-of-range values, oversized input) with a message naming the field.
// Thread-safety: plain values and functions.
#pragma once

#include <cmath>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "runtime/energy/power_model.h"

namespace nm {

inline constexpr const char* kDeviceProfileSchema = "nanomind.device-profile/1";

// One number with where it came from. `source` is the id of an entry in the profile's
// sources, or "measured" in a calibrated profile.
struct ProfileFigure {
  double value = NAN;
  std::string source;
  bool estimate = false;  // derived or assumed rather than read off the source
  std::string note;       // how it was derived (required for an estimate)
  bool known() const { return std::isfinite(value); }
};

// The rate of one matrix product shape on a device: weights of type `weight` times
// `tokens` activation rows (1 = the decode shape; more = a prefill batch). Calibration
// measures them; the cost model reads the entry nearest a brick's batch.
struct ProfileMatmul {
  std::string weight;  // "q4_0", "f16", ... (dtype_name)
  int tokens = 0;      // 1 .. 65536
  ProfileFigure gflops;
  // Optional: weight bytes per second this matmul streams when its weights come from DRAM
  // (calibrated at decode shape with a weight larger than the caches). A kernel that
  // dequantises as it reads may stay below the device's read bandwidth: decode is then
  // bounded by this rate, not by read_gbps.
  ProfileFigure read_gbps;
};

// Attention (scores, softmax, weighted sum) of `tokens` queries over `kv` cached positions,
// as the fused attention op the text bricks run, or (`matmuls`, "form": "matmuls") as two
// matrix products of activations around a softmax, as the vision brick's graph runs it.
struct ProfileAttention {
  int tokens = 0, kv = 0;
  bool matmuls = false;
  ProfileFigure gflops;
};

// Where a calibrated profile came from: which machine and build measured it, when.
struct ProfileCalibration {
  std::string machine;  // "Intel Xeon ... 2 CPUs; PoCL pthread ..." (machine_key hashes it)
  std::string build;    // "nanomind 0.1.0 (avx512_vnni)"
  int64_t created = 0;  // Unix time of the measurement
  double seconds = 0;   // how long calibration took
  bool present() const { return created > 0; }
};

struct ProfileSource {
  std::string id, title, url;
};

struct ProfileDevice {
  std::string name;   // "cpu", "cpu:big", "cpu:little", "gpu", "npu"
  std::string kind;   // "cpu", "gpu", "npu"
  std::string api;    // how NanoMind reaches it: "cpu", "opencl", "cuda", "rknpu" ("" unknown)
  std::string core;   // "Cortex-A55", "Ampere (1024 CUDA cores)"
  int cores = 0;      // CPU cores of the cluster (0: not a CPU / unknown)
  ProfileFigure max_ghz;
  ProfileFigure f32_gflops;  // peak dense f32 multiply-add throughput
  ProfileFigure f16_gflops;  // optional
  ProfileFigure int8_gops;   // optional: peak int8 dot-product throughput
  ProfileFigure read_gbps;   // optional: memory read bandwidth this device sees (else the board's)
  ProfileFigure active_w;    // added to the board's idle power while the device is fully busy
  // Optional, as calibration measures them (published profiles may give them too):
  std::vector<ProfileMatmul> matmul;
  std::vector<ProfileAttention> attention;
  ProfileFigure elementwise_gbps;  // bytes read + written by element-wise ops
  ProfileFigure launch_us;         // fixed cost of one graph run (submission, thread wake-up)
  ProfileFigure op_us;             // fixed cost of each op the device's workers run in a graph
                                   // (waking and joining them on a CPU cluster, an enqueue on a GPU)
  ProfileFigure map_us;            // making a 16 MiB host buffer usable by the device

  // The matmul entry for `weight` whose batch is nearest `tokens` (in ratio), or null.
  const ProfileMatmul* matmul_for(std::string_view weight, int tokens) const;
  // The attention entry of that form whose tokens x kv is nearest (in ratio), or null.
  const ProfileAttention* attention_for(int tokens, int kv, bool matmuls) const;
};

struct DeviceProfile {
  std::string name;                  // "rk3566"
  std::string title;                 // one line for people
  std::string origin;                // "published" or "calibrated"
  std::vector<std::string> match;    // device-tree compatible strings it describes
  std::vector<ProfileSource> sources;
  std::vector<std::string> notes;
  ProfileFigure idle_w;              // whole board, idle, nothing resident
  ProfileFigure awake_w;             // optional: idle with bricks resident and devices held awake
  ProfileFigure memory_gib;          // optional
  ProfileFigure read_gbps;           // DRAM read bandwidth
  ProfileFigure storage_read_gbps;   // optional: model-file read speed (on-demand loads)
  std::vector<ProfileDevice> devices;
  ProfileCalibration calibration;    // calibrated profiles only

  const ProfileDevice* device(std::string_view name) const;
  const ProfileSource* source(std::string_view id) const;
  // The figures the model-based energy estimate uses.
  energy::PowerModel power_model() const;
  // "RK3566 ... [published profile; estimates marked]" style one-liner.
  std::string summary() const;
};

// Parses and validates a profile. `what` names it in messages ("profiles/rk3566.json").
Result<DeviceProfile> parse_device_profile(std::string_view json, const std::string& what);

// The JSON text of a profile (what `nanomind calibrate` writes); parses back to the same.
std::string device_profile_to_json(const DeviceProfile& profile);

// The profiles shipped in profiles/ (embedded at build time), by name.
struct EmbeddedProfile {
  const char* name;
  std::string_view text;
};
std::span<const EmbeddedProfile> builtin_device_profiles();
std::vector<std::string> builtin_device_profile_names();

// A shipped profile by name ("rk3566"), or a JSON file by path (anything with a '/' or
// ending in ".json"). Unknown names list the known ones.
Result<DeviceProfile> load_device_profile(const std::string& name_or_path);

// The shipped profile whose `match` names this machine's board, from the device tree's
// compatible strings under `sysfs_root` (proc/device-tree/compatible); "" if none.
std::string builtin_profile_for_machine(const std::string& sysfs_root);

}  // namespace nm
