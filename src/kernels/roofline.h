// Machine limits measured at run time, so benchmarks can report speed as a fraction of
// what this machine can do right now (the machines are shared and noisy).
#pragma once

#include <cstddef>

#include "core/thread_pool.h"
#include "kernels/cpu_features.h"

namespace nm {

// Bytes per second of streaming reads over a buffer of `bytes` (far larger than the
// caches), all pool threads reading disjoint slices; best of a few passes.
double measure_read_bandwidth(ThreadPool& pool, size_t bytes);

// FLOP/s (2 per multiply-add) of register-resident f32 FMAs on every pool thread, with
// the widest vectors `isa` has; best of a few runs of ~0.1 s. 0 for Isa::scalar.
double measure_fma_peak(ThreadPool& pool, Isa isa);

}  // namespace nm
