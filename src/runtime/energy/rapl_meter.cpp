// RAPL through powercap (see rapl_meter.h).
#include "runtime/energy/rapl_meter.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "runtime/energy/sysfs_reader.h"

namespace nm::energy {

namespace {

// "intel-rapl:0" -> top level (one colon), "intel-rapl:0:2" -> sub-zone. The MMIO
// interface ("intel-rapl-mmio:0") repeats the package counter of the MSR one: skipped.
int zone_depth(const std::string& dir_name) {
  if (dir_name.rfind("intel-rapl:", 0) != 0) return 0;
  return static_cast<int>(std::count(dir_name.begin(), dir_name.end(), ':'));
}

}  // namespace

RaplMeter::RaplMeter(std::string description, std::vector<Zone> zones)
    : EnergyMeter("rapl", std::move(description), EnergySourceKind::counter), zones_(std::move(zones)) {}

Result<std::unique_ptr<RaplMeter>> RaplMeter::discover(const std::string& root) {
  const std::string base = sysfs_path(root, "sys/class/powercap");
  const std::vector<std::string> entries = list_sysfs_dir(base);
  if (entries.empty()) return error(ErrorCode::unsupported, "no powercap (" + base + " is absent or empty)");

  struct Candidate {
    std::string dir, label;
    int depth;
  };
  std::vector<Candidate> found;
  for (const std::string& e : entries) {
    const int depth = zone_depth(e);
    if (depth < 1 || depth > 2) continue;
    const std::string dir = base + "/" + e;
    Result<std::string> name = read_sysfs_text(dir + "/name");
    found.push_back({dir, name.ok() ? *name : e, depth});
  }
  if (found.empty()) return error(ErrorCode::unsupported, "powercap has no RAPL zone (" + base + ")");

  std::vector<Candidate> chosen;
  for (const Candidate& c : found)
    if (c.depth == 1 && c.label == "psys") chosen.push_back(c);
  if (chosen.empty()) {
    for (const Candidate& c : found)
      if ((c.depth == 1 && c.label.rfind("package", 0) == 0) || c.label == "dram") chosen.push_back(c);
  }
  if (chosen.empty()) return error(ErrorCode::unsupported, "powercap has RAPL zones but no package, dram or psys zone");

  std::vector<Zone> zones;
  std::string description = "RAPL ";
  for (const Candidate& c : chosen) {
    const std::string energy = c.dir + "/energy_uj";
    Result<int64_t> probe = read_sysfs_int(energy);
    if (!probe.ok()) {
      if (probe.status().code() == ErrorCode::io_error && ::access(energy.c_str(), R_OK) != 0 && errno == EACCES)
        return error(ErrorCode::io_error, energy + " exists but is readable only by root (since Linux 5.10)");
      return error(probe.status().code(), "RAPL zone " + c.label + ": " + probe.status().message());
    }
    Result<int64_t> range = read_sysfs_int(c.dir + "/max_energy_range_uj");
    const uint64_t max_uj = range.ok() && *range > 0 ? static_cast<uint64_t>(*range) : 0;
    zones.push_back({energy, c.label, WrappingCounter(1e-6, max_uj)});
    description += (zones.size() > 1 ? " + " : "") + c.label;
  }
  description += " (powercap)";
  const bool platform = chosen.front().label == "psys";
  auto meter = std::unique_ptr<RaplMeter>(new RaplMeter(description, std::move(zones)));
  meter->set_rank(platform ? kRankBoardInput : kRankRaplPackage);
  return meter;
}

Result<std::optional<double>> RaplMeter::read_joules(double /*now_s*/, double dt_s) {
  double sum = 0;
  bool baseline = false;
  for (Zone& z : zones_) {
    NM_ASSIGN_OR_RETURN(int64_t uj, read_sysfs_int(z.energy_path));
    NM_ASSIGN_OR_RETURN(std::optional<double> j, z.counter.update(uj, z.energy_path));
    if (!j) baseline = true;
    else sum += *j;
  }
  if (baseline) return std::optional<double>();  // zones are reset together: all set a baseline
  if (dt_s > 0) NM_RETURN_IF_ERROR(check_plausible_watts(sum / dt_s, "RAPL (" + zones_.front().energy_path + ")"));
  return std::optional<double>(sum);
}

void RaplMeter::reset_baseline() {
  for (Zone& z : zones_) z.counter.reset();
}

}  // namespace nm::energy
