// What this process holds in memory, read from /proc/self: the resident set, its peak,
// and how much of one file's mapping is resident (a model file's pages). The energy and
// residency tests and `nanomind bench` measure with these rather than assume.
// Thread-safety: plain functions (they read /proc each call).
#pragma once

#include <cstddef>
#include <string>

#include "core/status.h"

namespace nm {

// Resident set size (VmRSS), bytes.
Result<size_t> resident_bytes();
// Peak resident set size since start or the last reset (VmHWM), bytes.
Result<size_t> peak_resident_bytes();
// Resident bytes of every mapping of `path` in this process (smaps Rss, summed); 0 when
// the file is not mapped. `path` is compared after resolving symlinks and "..".
Result<size_t> resident_bytes_of_file(const std::string& path);

}  // namespace nm
