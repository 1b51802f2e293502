// `nanomind devices`: every device this machine offers (CPU clusters, OpenCL), with
// kind, memory, whether it shares memory with the host, and a quick measured read
// bandwidth and f32 FMA throughput; whether a calibrated profile exists and how old it is;
// the energy source.
#include <cstdio>
#include <ctime>
#include <vector>

#include "backend/device_registry.h"
#include "cli/commands.h"
#include "runtime/energy/machine_energy.h"
#include "runtime/profile/calibration_store.h"

namespace nm::cli {

void register_devices(CLI::App& app) {
  auto* cmd = app.add_subcommand("devices", "List compute devices with a quick bandwidth and GFLOP/s measurement");
  static bool no_measure = false;
  cmd->add_flag("--no-measure", no_measure, "Skip the speed measurement");
  cmd->callback([] {
    DeviceRegistry reg = DeviceRegistry::create();
    std::printf("%-12s %-4s %10s %-8s %9s %10s  %s\n", "device", "kind", "memory", "unified", "read GB/s", "GFLOP/s", "description");
    for (const auto& d : reg.devices()) {
      const DeviceMemoryInfo m = d->memory();
      char mem[32];
      std::snprintf(mem, sizeof mem, "%.1f GiB", (double)m.total_bytes / (1u << 30));
      char bw[32] = "-", fl[32] = "-";
      if (!no_measure) {
        Result<DeviceSpeed> s = d->measure_speed();
        if (s.ok()) {
          std::snprintf(bw, sizeof bw, "%.1f", s->read_gb_per_s);
          std::snprintf(fl, sizeof fl, "%.1f", s->gflop_per_s);
        } else {
          std::fprintf(stderr, "nanomind: %s: speed measurement failed: %s\n", d->name().c_str(), s.status().to_string().c_str());
        }
      }
      std::printf("%-12s %-4s %10s %-8s %9s %10s  %s\n", d->name().c_str(), device_kind_name(d->kind()), mem,
                  m.unified ? "yes" : "no", bw, fl, d->description().c_str());
    }
    // Calibration: whether this machine has a calibrated profile, and how old it is.
    std::vector<Device*> all;
    for (const auto& d : reg.devices()) all.push_back(d.get());
    const StoredCalibration cal = find_calibration(machine_key(machine_description(all)), build_description(),
                                                   static_cast<int64_t>(std::time(nullptr)));
    if (cal.path.empty()) {
      std::printf("\ncalibration: no cache directory (set XDG_CACHE_HOME or HOME)\n");
    } else if (!cal.exists) {
      std::printf("\ncalibration: none for this machine (run nanomind calibrate; it would write %s)\n", cal.path.c_str());
    } else if (!cal.status.ok()) {
      std::printf("\ncalibration: %s is unusable: %s (run nanomind calibrate again)\n", cal.path.c_str(),
                  cal.status.message().c_str());
    } else {
      std::printf("\ncalibration: %s, measured %s ago in %.0f s by %s%s\n", cal.path.c_str(), format_age(cal.age_s).c_str(),
                  cal.profile.calibration.seconds, cal.profile.calibration.build.c_str(),
                  cal.same_build ? "" : " (another build: run nanomind calibrate again)");
    }
    // Energy: the meters found at start-up, in the order they are used.
    Result<std::unique_ptr<energy::EnergyMonitor>> mon = energy::open_machine_energy("", [](const std::string& l) {
      std::fprintf(stderr, "nanomind: energy: %s\n", l.c_str());
    });
    if (!mon.ok()) {
      std::fprintf(stderr, "nanomind: energy: %s\n", mon.status().message().c_str());
      return;
    }
    std::printf("\nenergy: %s\n", energy::describe_energy_source(**mon).c_str());
    for (const energy::MeterInfo& m : (*mon)->meters())
      std::printf("  %-28s %-13s %s\n", m.name.c_str(), energy::energy_source_kind_name(m.kind), m.description.c_str());
  });
}

}  // namespace nm::cli
