// What this process holds in memory, read from /proc (Linux): resident bytes in all,
// anonymous (heap, packed weight copies, KV cache, arenas) and file-backed (mapped model
// files), the peak since start or since reset_peak_rss(), and the resident bytes of the
// mappings of one file. Residency decisions (runtime/pipeline.h, --residency) and the
// benchmarks are measured with these, not assumed.
// Thread-safety: every function may be called from any thread.
#pragma once

#include <cstddef>
#include <string>

#include "core/status.h"

namespace nm {

struct ProcessMemory {
  size_t rss = 0;       // VmRSS
  size_t rss_anon = 0;  // RssAnon
  size_t rss_file = 0;  // RssFile
  size_t peak_rss = 0;  // VmHWM
};

// Parses /proc/self/status; unavailable where there is no procfs.
Result<ProcessMemory> read_process_memory();
// The same from a status file's text (tests).
Result<ProcessMemory> parse_proc_status(const std::string& text);
// Resets VmHWM to the current VmRSS (writes 5 to /proc/self/clear_refs, Linux >= 4.0), so
// that two phases of one process get their own peaks.
Status reset_peak_rss();
// Resident bytes of this process's mappings of `path` (the sum of their Rss in
// /proc/self/smaps); 0 when the file is not mapped.
Result<size_t> mapped_file_rss(const std::string& path);

}  // namespace nm
