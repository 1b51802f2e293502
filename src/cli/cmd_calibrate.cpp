// `nanomind calibrate`: measures this machine's devices (each CPU cluster, each OpenCL
// device) and writes the calibrated profile the planner and the energy estimate read
// (runtime/profile/calibrate.h; where it is stored: calibration_store.h).
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "backend/device_registry.h"
#include "cli/commands.h"
#include "cli/option_checks.h"
#include "runtime/energy/machine_energy.h"
#include "runtime/profile/calibrate.h"
#include "runtime/profile/calibration_store.h"

namespace nm::cli {
namespace {

struct CalibrateOptions {
  std::string out;
  std::string devices;  // "cpu,opencl"; "" = all
  std::string types;    // "q4_0,q8_0"; "" = default
  std::string power_profile;
  double budget_s = 0.15;
  bool quick = false;
};

int fail(const Status& s) {
  std::fprintf(stderr, "error: %s\n", s.message().c_str());
  return 1;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size() && !s.empty()) {
    size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    if (comma > start) out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

Result<DType> parse_type(const std::string& name) {
  for (DType t : default_calibration_types())
    if (dtype_name(t) == name) return t;
  std::string known;
  for (DType t : default_calibration_types()) known += (known.empty() ? "" : ", ") + std::string(dtype_name(t));
  return error(ErrorCode::invalid_argument, "--types: '" + name + "' is not a weight type calibration measures (" + known + ")");
}

int calibrate(const CalibrateOptions& o) {
  DeviceRegistry reg = DeviceRegistry::create();
  std::vector<Device*> devices;
  if (o.devices.empty()) {
    for (const auto& d : reg.devices()) devices.push_back(d.get());
  } else {
    for (const std::string& n : split(o.devices)) {
      Device* d = reg.find(n);
      if (!d) return fail(error(ErrorCode::invalid_argument, "--devices: no device '" + n + "' (list: nanomind devices)"));
      devices.push_back(d);
    }
  }
  nm::CalibrationOptions c;
  if (!o.types.empty()) {
    for (const std::string& n : split(o.types)) {
      Result<DType> t = parse_type(n);
      if (!t.ok()) return fail(t.status());
      c.weight_types.push_back(*t);
    }
  } else if (o.quick) {
    c.weight_types = {DType::Q4_0, DType::Q8_0};
  }
  c.budget_s = o.quick ? 0.02 : o.budget_s;
  if (o.quick) c.prefill_tokens = 32;
  c.power_profile = o.power_profile;
  Result<std::unique_ptr<energy::EnergyMonitor>> mon = energy::open_machine_energy("none", [](const std::string& l) {
    std::fprintf(stderr, "nanomind: energy: %s\n", l.c_str());
  });
  if (mon.ok()) c.monitor = mon->get();
  const auto t0 = std::chrono::steady_clock::now();
  c.progress = [t0](const std::string& line) {
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "[%6.1f s] %s\n", t, line.c_str());
  };
  std::vector<Device*> all;  // the machine is all its devices, whichever were measured
  for (const auto& d : reg.devices()) all.push_back(d.get());
  c.machine = machine_description(all);
  c.build = build_description();
  c.created = static_cast<int64_t>(std::time(nullptr));
  const std::string key = machine_key(c.machine);
  c.name = "calibrated-" + key;
  Result<DeviceProfile> p = calibrate_devices(devices, c);
  if (!p.ok()) return fail(p.status());
  const std::string path = o.out.empty() ? calibrated_profile_path(key) : o.out;
  if (path.empty()) return fail(error(ErrorCode::invalid_argument, "neither XDG_CACHE_HOME nor HOME is set: give --out FILE"));
  if (Status s = write_calibration(*p, path); !s.ok()) return fail(s);
  std::printf("calibrated %zu device(s) in %.1f s -> %s\n", p->devices.size(), p->calibration.seconds, path.c_str());
  for (const ProfileDevice& d : p->devices) {
    const ProfileMatmul* dec = d.matmul_for("q4_0", 1);
    const ProfileMatmul* pre = d.matmul_for("q4_0", c.prefill_tokens);
    std::printf("  %-10s read %7.1f GB/s  launch %8.1f us  per op %6.2f us", d.name.c_str(),
                d.read_gbps.known() ? d.read_gbps.value : 0.0, d.launch_us.known() ? d.launch_us.value : 0.0,
                d.op_us.known() ? d.op_us.value : 0.0);
    if (dec && pre && dec != pre)
      std::printf("  q4_0 matmul: decode %.1f, prefill %.1f GFLOP/s", dec->gflops.value, pre->gflops.value);
    std::printf("\n");
  }
  std::printf("power: %s\n", c.monitor && c.monitor->measuring() ? "measured" : "not measured here (no power sensor); stand-in figures are marked as estimates");
  return 0;
}

}  // namespace

void register_calibrate(CLI::App& app) {
  auto o = std::make_shared<CalibrateOptions>();
  auto* cmd = app.add_subcommand("calibrate",
                                 "Measure this machine's devices (matmul per weight type, attention, bandwidth, launch "
                                 "cost, power where a sensor exists) into a profile for the planner");
  cmd->add_option("--out", o->out, "Where to write the profile (default: $XDG_CACHE_HOME/nanomind/calibrated-<machine>.json)");
  cmd->add_option("--devices", o->devices, "Devices to measure, comma-separated (default: all; list: nanomind devices)");
  cmd->add_option("--types", o->types, "Weight types to measure, comma-separated (default: f32,f16,q8_0,q4_0,q4_1,q5_0,q5_1,iq4_nl,q4_k,q5_k,q6_k)");
  cmd->add_option("--budget", o->budget_s, "Seconds of timed runs per measurement, after a warm-up run")
      ->check(real_in(0, 10, false, "0 to 10 seconds"))->capture_default_str();
  cmd->add_option("--power-profile", o->power_profile,
                  "Profile whose power figures stand in where no sensor measures (default: this machine's estimate profile; none)");
  cmd->add_flag("--quick", o->quick, "A few seconds: q4_0 and q8_0 only, tiny budgets (for tests; numbers are rough)");
  cmd->callback([o] { throw CLI::RuntimeError(calibrate(*o)); });
}

}  // namespace nm::cli
