// Machine limits measured at run time, so benchmarks can report speed as a fraction of
// what this machine can do right now (the machines are shared and noisy).
#pragma once

#include <cstddef>

#include "core/thread_pool.h"

namespace nm {

// Bytes per second of streaming reads over a buffer of `bytes` (far larger than the
// caches), all pool threads reading disjoint slices; best of a few passes.
double measure_read_bandwidth(ThreadPool& pool, size_t bytes);

}  // namespace nm
