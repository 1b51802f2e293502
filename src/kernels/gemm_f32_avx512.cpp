// AVX-512 micro-kernel of the f32 GEMM (gemm_f32.h): 12 rows x 2 panels = 24 accumulators
// of 16 lanes, 2 weight loads and 12 broadcasts per 24 FMAs (two FMA ports: FMA-bound).
#include "kernels/avx512_gcc_warnings.h"  // before any intrinsics header

#include <immintrin.h>

#include "kernels/gemm_f32_tile.h"

namespace nm {
namespace {

struct F32x16 {
  using Reg = __m512;
  static constexpr int kLanes = 16;
  static Reg zero() { return _mm512_setzero_ps(); }
  static Reg load(const float* p) { return _mm512_loadu_ps(p); }
  static Reg set1(float v) { return _mm512_set1_ps(v); }
  static Reg fma(Reg a, Reg b, Reg acc) { return _mm512_fmadd_ps(a, b, acc); }
  static Reg add(Reg a, Reg b) { return _mm512_add_ps(a, b); }
  static void store(float* p, Reg v) { _mm512_storeu_ps(p, v); }
};

}  // namespace

bool gemm_f32_kernel_avx512(GemmF32Kernel* out) {
  *out = gemm_kernel_of<F32x16, 12, 2>();
  return true;
}

}  // namespace nm
