#include <vector>

#include "kernels/matmul.h"
#include "kernels/matmul_packed.h"
#include "tests/shim/shim.h"

namespace {

int run_matmul(int isa, uint32_t w_type, const void* w, bool packed, int64_t w_row_bytes, int64_t m, int64_t k,
               const float* x, int64_t x_stride, int64_t n, float* y, int64_t y_stride, int threads) {
  nm::MatmulArgs a;
  a.w_type = (nm::DType)w_type;
  a.w = w;
  a.w_packed = packed;
  a.w_row_bytes = (size_t)w_row_bytes;
  a.m = m;
  a.k = k;
  a.x = x;
  a.x_stride = x_stride;
  a.n = n;
  a.y = y;
  a.y_stride = y_stride;
  std::vector<char> scratch(nm::matmul_scratch_bytes(a.w_type, m, k, n) + 1);
  nm::ThreadPool pool(threads);
  return nm::matmul((nm::Isa)isa, a, scratch.data(), pool).ok() ? 0 : 1;
}

}  // namespace

NM_SHIM int nm_shim_matmul(int isa, uint32_t w_type, const void* w, int64_t w_row_bytes, int64_t m,
                           int64_t k, const float* x, int64_t x_stride, int64_t n, float* y,
                           int64_t y_stride, int threads) {
  return run_matmul(isa, w_type, w, false, w_row_bytes, m, k, x, x_stride, n, y, y_stride, threads);
}

// The packed path: packs w (m rows w_row_bytes apart) and multiplies. Returns 2 when this
// ISA has no packed kernel for the type and shape, 1 on a matmul error.
NM_SHIM int nm_shim_matmul_packed(int isa, uint32_t w_type, const void* w, int64_t w_row_bytes, int64_t m,
                                  int64_t k, const float* x, int64_t x_stride, int64_t n, float* y,
                                  int64_t y_stride, int threads) {
  const auto type = (nm::DType)w_type;
  if (!nm::matmul_packable((nm::Isa)isa, type, m, k)) return 2;
  std::vector<char> packed(nm::matmul_packed_bytes(type, m, k));
  nm::matmul_pack_weights(type, w, (size_t)w_row_bytes, m, k, packed.data());
  return run_matmul(isa, w_type, packed.data(), true, (int64_t)nm::row_size(type, k), m, k, x, x_stride, n, y,
                    y_stride, threads);
}
