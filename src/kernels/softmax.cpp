// Row softmax with scale and an additive, row-broadcast mask; -inf safe.
#include <cmath>
#include <vector>

#include "kernels/ops.h"
#include "kernels/vec.h"

namespace nm::kernels {

void softmax(const float* x, float* y, const float* mask, int64_t mask_rows, int64_t n_rows,
             int64_t n, float scale, Isa isa, int ith, int nth) {
  const VecOps& v = vec_ops(isa);
  const RowRange r = split_rows(n_rows, ith, nth);
  for (int64_t row = r.begin; row < r.end; ++row) {
    const float* xr = x + row * n;
    float* yr = y + row * n;
    const float* mr = mask ? mask + (row % mask_rows) * n : nullptr;
    for (int64_t i = 0; i < n; ++i) yr[i] = scale * xr[i] + (mr ? mr[i] : 0.0f);
    const float m = v.max(yr, n);
    if (m == -INFINITY) {  // fully masked: no probability mass anywhere
      for (int64_t i = 0; i < n; ++i) yr[i] = 0.0f;
      continue;
    }
    const float sum = v.exp_sum(yr, m, yr, n);
    v.scale(1.0f / sum, yr, n);
  }
}

}  // namespace nm::kernels
