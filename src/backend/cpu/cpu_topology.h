// CPU topology: which cores are alike. Reads sysfs (cpu_capacity, cpufreq max frequency,
// cluster/package ids, Intel hybrid cpu_core/cpu_atom lists) and /proc/cpuinfo (ARM
// "CPU part") under a root path, so tests can point it at a fake tree, and groups the
// online cores into clusters, fastest first: "cpu" when all are alike, else "cpu:big",
// "cpu:little" (and "cpu:mid" for three tiers).
// Thread-safety: plain functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace nm {

struct CpuCoreInfo {
  int cpu = 0;                 // logical cpu number (cpuN)
  int capacity = -1;           // cpu_capacity (1024 = the fastest core), -1 unknown
  int64_t max_freq_khz = -1;   // cpuinfo_max_freq, -1 unknown
  int cluster_id = -1;         // topology/cluster_id, -1 unknown
  int package_id = -1;         // topology/physical_package_id
  int core_id = -1;            // topology/core_id (SMT siblings share it)
  int hybrid_type = 0;         // x86 hybrid: 2 = performance (cpu_core), 1 = efficient (cpu_atom), 0 none
  std::string part;            // "Cortex-A76" from /proc/cpuinfo "CPU part", "" unknown
};

struct CpuCluster {
  std::string name;            // "cpu", "cpu:big", "cpu:mid", "cpu:little"
  std::vector<int> cpus;       // logical cpu numbers, ascending
  std::vector<int> physical;   // one logical cpu per physical core (SMT siblings dropped)
  int capacity = -1;           // highest capacity in the cluster, -1 unknown
  int64_t max_freq_khz = -1;   // highest max frequency, -1 unknown
  std::string part;            // common core name, "" if unknown or mixed
  // "4x Cortex-A76 @ 2.40 GHz (capacity 1024)"
  std::string description() const;
};

// Reads every online cpu under `root` ("/" for the real machine). Fails (io_error) only
// if no cpu can be found at all.
Result<std::vector<CpuCoreInfo>> read_cpu_cores(const std::string& root = "/");

// Groups cores into performance tiers, fastest first, and names them. Cores are alike
// when they have the same hybrid type, capacity and (within 10%) max frequency.
std::vector<CpuCluster> group_cpu_clusters(const std::vector<CpuCoreInfo>& cores);

// Both of the above; on a read failure returns one "cpu" cluster of
// std::thread::hardware_concurrency() cores.
std::vector<CpuCluster> detect_cpu_clusters(const std::string& root = "/");

// Clusters declared by hand (NM_CPU_CLUSTERS): "LIST|LIST|..." of sysfs cpu lists, e.g.
// "0|1" or "0-3|4-7", becomes devices cpu:0, cpu:1, ... of those cores, so that on a
// machine whose cores are all alike a pipeline can be placed, tested and measured as on a
// big.LITTLE board. Errors (invalid_argument) for a malformed spec, a core that is not
// among `cores`, or a core named twice.
Result<std::vector<CpuCluster>> declared_cpu_clusters(const std::string& spec, const std::vector<CpuCoreInfo>& cores);
// The NM_CPU_CLUSTERS environment variable ("" when unset).
std::string cpu_clusters_from_env();

// Parses a sysfs cpu list ("0-3,8,10-11"); malformed parts are skipped.
std::vector<int> parse_cpu_list(const std::string& text);

}  // namespace nm
