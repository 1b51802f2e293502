#include <immintrin.h>

#include "kernels/fma_loops.h"

namespace nm {

float fma_loop_avx512(long iters) {
  // loads, not _mm512_set1_ps: gcc 12 warns about its undefined source register
  float init[kFmaChains][16], bv[16], cv[16];
  for (int l = 0; l < 16; ++l) {
    for (int j = 0; j < kFmaChains; ++j) init[j][l] = (float)j;
    bv[l] = 0.999999f;
    cv[l] = 1e-7f;
  }
  __m512 a[kFmaChains];
  for (int j = 0; j < kFmaChains; ++j) a[j] = _mm512_loadu_ps(init[j]);
  const __m512 b = _mm512_loadu_ps(bv), c = _mm512_loadu_ps(cv);
  for (long i = 0; i < iters; ++i)
    for (int j = 0; j < kFmaChains; ++j) a[j] = _mm512_fmadd_ps(a[j], b, c);
  __m512 s = a[0];
  for (int j = 1; j < kFmaChains; ++j) s = _mm512_add_ps(s, a[j]);
  _mm512_storeu_ps(bv, s);
  return bv[0] + bv[15];
}

}  // namespace nm
