#include <immintrin.h>

#include "kernels/fma_loops.h"

namespace nm {

float fma_loop_avx2(long iters) {
  __m256 a[kFmaChains];
  for (int j = 0; j < kFmaChains; ++j) a[j] = _mm256_set1_ps((float)j);
  const __m256 b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
  for (long i = 0; i < iters; ++i)
    for (int j = 0; j < kFmaChains; ++j) a[j] = _mm256_fmadd_ps(a[j], b, c);
  __m256 s = a[0];
  for (int j = 1; j < kFmaChains; ++j) s = _mm256_add_ps(s, a[j]);
  return _mm256_cvtss_f32(s);
}

}  // namespace nm
