// Reads the sysfs/procfs files named in cpu_topology.h. Every file is optional: a
// missing or malformed file leaves its field unknown, so odd kernels still give one
// "cpu" cluster.
#include "backend/cpu/cpu_topology.h"

#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

namespace nm {
namespace {

namespace fs = std::filesystem;

bool read_text(const fs::path& p, std::string* out) {
  std::ifstream f(p);
  if (!f) return false;
  std::stringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return true;
}

int64_t read_int(const fs::path& p, int64_t fallback) {
  std::string s;
  if (!read_text(p, &s)) return fallback;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  return end == s.c_str() ? fallback : (int64_t)v;
}

// ARM Ltd (implementer 0x41) part numbers of the cores found in phones and SBCs.
const char* arm_part_name(long part) {
  static const std::pair<long, const char*> kParts[] = {
      {0xd03, "Cortex-A53"}, {0xd04, "Cortex-A35"}, {0xd05, "Cortex-A55"}, {0xd07, "Cortex-A57"},
      {0xd08, "Cortex-A72"}, {0xd09, "Cortex-A73"}, {0xd0a, "Cortex-A75"}, {0xd0b, "Cortex-A76"},
      {0xd0d, "Cortex-A77"}, {0xd41, "Cortex-A78"}, {0xd44, "Cortex-X1"},  {0xd46, "Cortex-A510"},
      {0xd47, "Cortex-A710"}, {0xd48, "Cortex-X2"}, {0xd4d, "Cortex-A715"}, {0xd4e, "Cortex-X3"},
      {0xd80, "Cortex-A520"}, {0xd81, "Cortex-A720"}, {0xd82, "Cortex-X4"}, {0xd0c, "Neoverse-N1"},
      {0xd40, "Neoverse-V1"}, {0xd49, "Neoverse-N2"}, {0xd4f, "Neoverse-V2"}};
  for (const auto& [id, name] : kParts) {
    if (id == part) return name;
  }
  return nullptr;
}

// cpu number -> core name, from /proc/cpuinfo blocks ("processor : 4" ... "CPU part : 0xd0b").
std::map<int, std::string> read_arm_parts(const fs::path& cpuinfo) {
  std::map<int, std::string> parts;
  std::ifstream f(cpuinfo);
  std::string line;
  int cpu = -1;
  long implementer = -1;
  while (std::getline(f, line)) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
    const std::string value = line.substr(colon + 1);
    if (key == "processor") {
      cpu = std::atoi(value.c_str());
      implementer = -1;
    } else if (key == "CPU implementer") {
      implementer = std::strtol(value.c_str(), nullptr, 0);
    } else if (key == "CPU part" && cpu >= 0) {
      const char* name = implementer == 0x41 || implementer == -1 ? arm_part_name(std::strtol(value.c_str(), nullptr, 0)) : nullptr;
      if (name) parts[cpu] = name;
    }
  }
  return parts;
}

// Tier key comparison: a core joins the current tier when it is "alike" its first core.
bool within(int64_t a, int64_t b, double rel) {
  if (a < 0 || b < 0) return a < 0 && b < 0;
  return (double)std::min(a, b) >= (1.0 - rel) * (double)std::max(a, b);
}

bool alike(const CpuCoreInfo& a, const CpuCoreInfo& b) {
  if (a.hybrid_type != b.hybrid_type) return false;
  if (a.hybrid_type != 0) return true;  // Intel hybrid: P and E lists are the truth
  if (a.capacity >= 0 || b.capacity >= 0) return within(a.capacity, b.capacity, 0.10);
  return within(a.max_freq_khz, b.max_freq_khz, 0.10);
}

std::vector<std::string> tier_names(size_t n) {
  if (n == 1) return {"cpu"};
  std::vector<std::string> names{"cpu:big"};
  for (size_t i = 1; i + 1 < n; ++i) names.push_back(i == 1 ? "cpu:mid" : "cpu:mid" + std::to_string(i));
  names.push_back("cpu:little");
  return names;
}

}  // namespace

std::vector<int> parse_cpu_list(const std::string& text) {
  std::vector<int> cpus;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    int a = -1, b = -1;
    if (part.find('-') != std::string::npos) {
      if (std::sscanf(part.c_str(), "%d-%d", &a, &b) == 2 && a >= 0 && b >= a && b - a < 65536) {
        for (int i = a; i <= b; ++i) cpus.push_back(i);
      }
    } else if (std::sscanf(part.c_str(), "%d", &a) == 1 && a >= 0) {
      cpus.push_back(a);
    }
  }
  std::sort(cpus.begin(), cpus.end());
  cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
  return cpus;
}

std::string CpuCluster::description() const {
  char buf[160];
  std::string s = std::to_string(cpus.size()) + "x " + (part.empty() ? "core" : part);
  if (max_freq_khz > 0) {
    std::snprintf(buf, sizeof buf, " @ %.2f GHz", (double)max_freq_khz / 1e6);
    s += buf;
  }
  if (capacity >= 0) s += " (capacity " + std::to_string(capacity) + ")";
  return s;
}

Result<std::vector<CpuCoreInfo>> read_cpu_cores(const std::string& root) {
  const fs::path cpu_dir = fs::path(root) / "sys/devices/system/cpu";
  std::string text;
  std::vector<int> online;
  if (read_text(cpu_dir / "online", &text)) online = parse_cpu_list(text);
  if (online.empty()) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(cpu_dir, ec)) {
      const std::string n = e.path().filename().string();
      if (n.size() > 3 && n.compare(0, 3, "cpu") == 0 && std::all_of(n.begin() + 3, n.end(), ::isdigit)) {
        online.push_back(std::atoi(n.c_str() + 3));
      }
    }
    std::sort(online.begin(), online.end());
  }
  if (online.empty()) return error(ErrorCode::io_error, "no cpus found under " + cpu_dir.string());

  std::set<int> p_cores, e_cores;
  if (read_text(fs::path(root) / "sys/devices/cpu_core/cpus", &text)) {
    for (int c : parse_cpu_list(text)) p_cores.insert(c);
  }
  if (read_text(fs::path(root) / "sys/devices/cpu_atom/cpus", &text)) {
    for (int c : parse_cpu_list(text)) e_cores.insert(c);
  }
  const bool hybrid = !p_cores.empty() && !e_cores.empty();
  const std::map<int, std::string> parts = read_arm_parts(fs::path(root) / "proc/cpuinfo");

  std::vector<CpuCoreInfo> cores;
  for (int c : online) {
    const fs::path d = cpu_dir / ("cpu" + std::to_string(c));
    CpuCoreInfo info;
    info.cpu = c;
    info.capacity = (int)read_int(d / "cpu_capacity", -1);
    info.max_freq_khz = read_int(d / "cpufreq/cpuinfo_max_freq", -1);
    info.cluster_id = (int)read_int(d / "topology/cluster_id", -1);
    info.package_id = (int)read_int(d / "topology/physical_package_id", -1);
    info.core_id = (int)read_int(d / "topology/core_id", -1);
    if (hybrid) info.hybrid_type = p_cores.count(c) ? 2 : e_cores.count(c) ? 1 : 0;
    if (auto it = parts.find(c); it != parts.end()) info.part = it->second;
    cores.push_back(info);
  }
  return cores;
}

std::vector<CpuCluster> group_cpu_clusters(const std::vector<CpuCoreInfo>& cores_in) {
  std::vector<CpuCoreInfo> cores = cores_in;
  // Fastest first; ties by cpu number so the result is deterministic.
  std::stable_sort(cores.begin(), cores.end(), [](const CpuCoreInfo& a, const CpuCoreInfo& b) {
    if (a.hybrid_type != b.hybrid_type) return a.hybrid_type > b.hybrid_type;
    if (a.capacity != b.capacity) return a.capacity > b.capacity;
    if (a.max_freq_khz != b.max_freq_khz) return a.max_freq_khz > b.max_freq_khz;
    return a.cpu < b.cpu;
  });
  std::vector<std::vector<CpuCoreInfo>> tiers;
  for (const CpuCoreInfo& c : cores) {
    if (tiers.empty() || !alike(tiers.back().front(), c)) tiers.emplace_back();
    tiers.back().push_back(c);
  }
  const std::vector<std::string> names = tier_names(tiers.size());
  std::vector<CpuCluster> clusters;
  for (size_t t = 0; t < tiers.size(); ++t) {
    CpuCluster cl;
    cl.name = names[t];
    cl.part = tiers[t].front().part;
    std::set<std::pair<int, int>> seen_cores;
    std::sort(tiers[t].begin(), tiers[t].end(), [](const CpuCoreInfo& a, const CpuCoreInfo& b) { return a.cpu < b.cpu; });
    for (const CpuCoreInfo& c : tiers[t]) {
      cl.cpus.push_back(c.cpu);
      if (c.core_id < 0 || seen_cores.insert({c.package_id, c.core_id}).second) cl.physical.push_back(c.cpu);
      cl.capacity = std::max(cl.capacity, c.capacity);
      cl.max_freq_khz = std::max(cl.max_freq_khz, c.max_freq_khz);
      if (c.part != cl.part) cl.part.clear();
    }
    clusters.push_back(std::move(cl));
  }
  return clusters;
}

std::vector<CpuCluster> detect_cpu_clusters(const std::string& root) {
  Result<std::vector<CpuCoreInfo>> cores = read_cpu_cores(root);
  if (cores.ok()) return group_cpu_clusters(cores.value());
  CpuCluster all;
  all.name = "cpu";
  const int n = std::max(1u, std::thread::hardware_concurrency());
  for (int i = 0; i < n; ++i) all.cpus.push_back(i);
  all.physical = all.cpus;
  return {all};
}

Result<std::vector<CpuCluster>> declared_cpu_clusters(const std::string& spec, const std::vector<CpuCoreInfo>& cores) {
  std::map<int, const CpuCoreInfo*> by_cpu;
  for (const CpuCoreInfo& c : cores) by_cpu[c.cpu] = &c;
  std::vector<CpuCluster> clusters;
  std::set<int> taken;
  size_t at = 0;
  while (at <= spec.size()) {
    const size_t bar = std::min(spec.find('|', at), spec.size());
    const std::string part = spec.substr(at, bar - at);
    const bool well_formed = !part.empty() && part.find_first_not_of("0123456789-, ") == std::string::npos;
    const std::vector<int> cpus = well_formed ? parse_cpu_list(part) : std::vector<int>{};
    if (cpus.empty()) {
      return error(ErrorCode::invalid_argument, "NM_CPU_CLUSTERS='" + spec + "': '" + part +
                                                    "' is not a cpu list (use e.g. 0|1 or 0-3|4-7)");
    }
    CpuCluster cl;
    cl.name = "cpu:" + std::to_string(clusters.size());
    std::set<std::pair<int, int>> seen_cores;
    for (int c : cpus) {
      auto it = by_cpu.find(c);
      if (it == by_cpu.end()) {
        return error(ErrorCode::invalid_argument, "NM_CPU_CLUSTERS='" + spec + "': cpu " + std::to_string(c) +
                                                      " is not online here");
      }
      if (!taken.insert(c).second) {
        return error(ErrorCode::invalid_argument, "NM_CPU_CLUSTERS='" + spec + "': cpu " + std::to_string(c) +
                                                      " is in two clusters");
      }
      const CpuCoreInfo& info = *it->second;
      if (cl.cpus.empty()) cl.part = info.part;
      cl.cpus.push_back(c);
      if (info.core_id < 0 || seen_cores.insert({info.package_id, info.core_id}).second) cl.physical.push_back(c);
      cl.capacity = std::max(cl.capacity, info.capacity);
      cl.max_freq_khz = std::max(cl.max_freq_khz, info.max_freq_khz);
      if (info.part != cl.part) cl.part.clear();
    }
    std::sort(cl.cpus.begin(), cl.cpus.end());
    std::sort(cl.physical.begin(), cl.physical.end());
    clusters.push_back(std::move(cl));
    at = bar + 1;
  }
  return clusters;
}

std::string cpu_clusters_from_env() {
  const char* e = std::getenv("NM_CPU_CLUSTERS");
  return e ? std::string(e) : std::string();
}

}  // namespace nm
