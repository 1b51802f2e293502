// Element-wise add / mul with row broadcasting of the second operand, and scale.
#include "kernels/ops.h"
#include "kernels/vec.h"

namespace nm::kernels {

namespace {
template <class Op>
void broadcast_rows(const float* a, const float* b, float* y, int64_t n_rows, int64_t n,
                    int64_t b_rows, int ith, int nth, Op op) {
  const RowRange r = split_rows(n_rows, ith, nth);
  for (int64_t row = r.begin; row < r.end; ++row) {
    const float* ar = a + row * n;
    const float* br = b + (row % b_rows) * n;
    float* yr = y + row * n;
    for (int64_t i = 0; i < n; ++i) yr[i] = op(ar[i], br[i]);  // auto-vectorised; exact either way
  }
}
}  // namespace

void add(const float* a, const float* b, float* y, int64_t n_rows, int64_t n, int64_t b_rows,
         Isa /*isa*/, int ith, int nth) {
  broadcast_rows(a, b, y, n_rows, n, b_rows, ith, nth, [](float u, float v) { return u + v; });
}

void mul(const float* a, const float* b, float* y, int64_t n_rows, int64_t n, int64_t b_rows,
         Isa /*isa*/, int ith, int nth) {
  broadcast_rows(a, b, y, n_rows, n, b_rows, ith, nth, [](float u, float v) { return u * v; });
}

void scale(const float* x, float* y, int64_t n, float s, Isa isa, int ith, int nth) {
  const RowRange r = split_elems(n, ith, nth);
  for (int64_t i = r.begin; i < r.end; ++i) y[i] = x[i];
  vec_ops(isa).scale(s, y + r.begin, r.end - r.begin);
}

}  // namespace nm::kernels
