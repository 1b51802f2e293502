// Unary activations (GELU tanh/erf/quick, SiLU) and SwiGLU, split over element ranges.
#include <cmath>

#include "kernels/ops.h"
#include "kernels/vec.h"

namespace nm::kernels {

void activation(Act act, const float* x, float* y, int64_t n, Isa isa, int ith, int nth) {
  const VecOps& v = vec_ops(isa);
  const RowRange r = split_elems(n, ith, nth);
  const float* xr = x + r.begin;
  float* yr = y + r.begin;
  const int64_t len = r.end - r.begin;
  switch (act) {
    case Act::silu: v.silu(xr, yr, len); break;
    case Act::gelu: v.gelu(xr, yr, len); break;
    case Act::gelu_erf:
      for (int64_t i = 0; i < len; ++i) yr[i] = 0.5f * xr[i] * (1.0f + std::erf(xr[i] * 0.70710678118654752f));
      break;
    case Act::gelu_quick:
      for (int64_t i = 0; i < len; ++i) yr[i] = xr[i] / (1.0f + std::exp(-1.702f * xr[i]));
      break;
  }
}

void swiglu(const float* a, const float* b, float* y, int64_t n, Isa isa, int ith, int nth) {
  const RowRange r = split_elems(n, ith, nth);
  vec_ops(isa).swiglu(a + r.begin, b + r.begin, y + r.begin, r.end - r.begin);
}

}  // namespace nm::kernels
