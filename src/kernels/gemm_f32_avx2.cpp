// AVX2 micro-kernel of the f32 GEMM (gemm_f32.h): 6 rows x 1 panel = 12 accumulators of 8
// lanes, 2 weight loads and 6 broadcasts per 12 FMAs, in the 16 ymm registers.
#include <immintrin.h>

#include "kernels/gemm_f32_tile.h"

namespace nm {
namespace {

struct F32x8 {
  using Reg = __m256;
  static constexpr int kLanes = 8;
  static Reg zero() { return _mm256_setzero_ps(); }
  static Reg load(const float* p) { return _mm256_loadu_ps(p); }
  static Reg set1(float v) { return _mm256_set1_ps(v); }
  static Reg fma(Reg a, Reg b, Reg acc) { return _mm256_fmadd_ps(a, b, acc); }
  static Reg add(Reg a, Reg b) { return _mm256_add_ps(a, b); }
  static void store(float* p, Reg v) { _mm256_storeu_ps(p, v); }
};

}  // namespace

bool gemm_f32_kernel_avx2(GemmF32Kernel* out) {
  *out = gemm_kernel_of<F32x8, 6, 1>();
  return true;
}

}  // namespace nm
