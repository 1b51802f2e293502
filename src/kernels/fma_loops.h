// Register-resident f32 FMA loops per ISA for measure_fma_peak() (kernels/roofline.h).
// Each runs `iters` rounds of kFmaChains independent vector FMAs and returns a value
// derived from the results (so the work is not optimised away). Defined only where the
// ISA's files are compiled (cmake/isa.cmake).
#pragma once

namespace nm {

constexpr int kFmaChains = 12;  // enough independent chains to cover FMA latency x 2 pipes

float fma_loop_avx2(long iters);    // 8 lanes
float fma_loop_avx512(long iters);  // 16 lanes
float fma_loop_neon(long iters);    // 4 lanes

}  // namespace nm
