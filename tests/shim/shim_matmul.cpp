#include <vector>

#include "kernels/matmul.h"
#include "tests/shim/shim.h"

// Usable ISAs as ints (scalar first) into out[0..cap); returns the count.

NM_SHIM int nm_shim_matmul(int isa, uint32_t w_type, const void* w, int64_t w_row_bytes, int64_t m,
                           int64_t k, const float* x, int64_t x_stride, int64_t n, float* y,
                           int64_t y_stride, int threads) {
  nm::MatmulArgs a;
  a.w_type = (nm::DType)w_type;
  a.w = w;
  a.w_row_bytes = (size_t)w_row_bytes;
  a.m = m;
  a.k = k;
  a.x = x;
  a.x_stride = x_stride;
  a.n = n;
  a.y = y;
  a.y_stride = y_stride;
  std::vector<char> scratch(nm::matmul_scratch_bytes(a.w_type, k, n) + 1);
  nm::ThreadPool pool(threads);
  return nm::matmul((nm::Isa)isa, a, scratch.data(), pool).ok() ? 0 : 1;
}
