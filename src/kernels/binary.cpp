// Element-wise add / mul with row broadcasting of the second operand, and scale.
#include "kernels/ops.h"
#include "kernels/vec.h"

namespace nm {

void add(const float* a, const float* b, float* y, int64_t n_rows, int64_t n, int64_t b_rows,
         Isa /*isa*/, int ith, int nth) {
  const RowRange r = split_rows(n_rows, ith, nth);
  for (int64_t row = r.begin; row < r.end; ++row) {
    const float* ar = a + row * n;
    const float* br = b + (row % b_rows) * n;
    float* yr = y + row * n;
    for (int64_t i = 0; i < n; ++i) yr[i] = ar[i] + br[i];  // auto-vectorised; exact either way
  }
}

void mul(const float* a, const float* b, float* y, int64_t n_rows, int64_t n, int64_t b_rows,
         Isa /*isa*/, int ith, int nth) {
  const RowRange r = split_rows(n_rows, ith, nth);
  for (int64_t row = r.begin; row < r.end; ++row) {
    const float* ar = a + row * n;
    const float* br = b + (row % b_rows) * n;
    float* yr = y + row * n;
    for (int64_t i = 0; i < n; ++i) yr[i] = ar[i] * br[i];
  }
}

void scale(const float* x, float* y, int64_t n, float s, Isa isa, int ith, int nth) {
  const RowRange r = split_elems(n, ith, nth);
  for (int64_t i = r.begin; i < r.end; ++i) y[i] = x[i];
  vec_ops(isa).scale(s, y + r.begin, r.end - r.begin);
}

}  // namespace nm
