// Shim over the speech-synthesis kernels of kernels/ops.h (VITS): each entry runs one op on
// a ThreadPool of nth threads and returns 0, or 1 when the op reports an error.
#include <atomic>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/conv1d_gemm.h"
#include "kernels/ops.h"
#include "tests/shim/shim.h"

namespace {
namespace k = nm::kernels;
template <class F>
int run_threads(int nth, F&& f) {
  nm::ThreadPool pool(nth);
  std::atomic<int> bad{0};
  pool.run([&](int ith, int n) { if (!f(ith, n)) bad = 1; });
  return bad.load();
}
}  // namespace

// op: 0 relu, 1 tanh, 2 leaky_relu (slope), 3 gate_tanh_sigmoid (rows, h = n), 4 flip (rows, n)
NM_SHIM int nm_shim_speech_unary(int op, const float* x, float* y, int64_t rows, int64_t n, float slope, int nth) {
  return run_threads(nth, [&](int i, int t) {
    switch (op) {
      case 0: k::relu(x, y, rows * n, i, t); return true;
      case 1: k::tanh(x, y, rows * n, i, t); return true;
      case 2: k::leaky_relu(x, y, rows * n, slope, i, t); return true;
      case 3: k::gate_tanh_sigmoid(x, y, rows, n, i, t); return true;
      case 4: k::flip_rows(x, y, rows, n, i, t); return true;
      default: return false;
    }
  });
}

// dims: c, t_in, k, stride, pad, dilation. op 0: unfold1d (w unused; leaky slope), 1: depthwise conv.
NM_SHIM int nm_shim_conv1d_rows(int op, const float* x, const float* w, const int64_t* dims, float slope, float* y,
                                int nth) {
  k::Conv1dRows s{dims[0], dims[1], dims[2], dims[3], dims[4], dims[5]};
  return run_threads(nth, [&](int i, int t) {
    if (op == 0) k::unfold1d(x, s, slope, y, i, t);
    else k::conv1d_depthwise(x, w, s, y, i, t);
    return true;
  });
}

// conv1d_gemm (the conv1d_rows op): w [oc][k*c] tap-major, bias [oc] or null, residual
// [t_out][oc] or null; dims as above. Returns 1 on an error.
NM_SHIM int nm_shim_conv1d_gemm(int isa, const float* x, const float* w, const float* bias, const float* residual,
                                const int64_t* dims, int64_t oc, float slope, float* y, int nth) {
  nm::Conv1dGemmArgs a;
  a.x = x;
  a.s = k::Conv1dRows{dims[0], dims[1], dims[2], dims[3], dims[4], dims[5]};
  a.slope = slope;
  a.w = w;
  a.bias = bias;
  a.residual = residual;
  a.oc = oc;
  a.y = y;
  std::vector<char> scratch(nm::conv1d_gemm_scratch_bytes(a.s, oc));
  nm::ThreadPool pool(nth);
  return nm::conv1d_gemm((nm::Isa)isa, a, scratch.data(), pool).ok() ? 0 : 1;
}

NM_SHIM int nm_shim_col2im1d(const float* cols, int64_t t_in, int64_t oc, int64_t kk, int64_t stride, int64_t pad,
                             float* y, int nth) {
  return run_threads(nth, [&](int i, int t) { k::col2im1d(cols, t_in, oc, kk, stride, pad, y, i, t); return true; });
}

NM_SHIM int nm_shim_rel_attention(int isa, const float* q, const float* kk, const float* v, const float* ek,
                                  const float* ev, float* out, int64_t t, int64_t heads, int64_t d, int64_t window,
                                  int nth) {
  return run_threads(nth, [&](int i, int n) {
    return k::rel_attention(q, kk, v, ek, ev, out, t, heads, d, window, (nm::Isa)isa, i, n).ok();
  });
}

NM_SHIM int nm_shim_spline_coupling(const float* z, const float* h, float* y, int64_t t, int64_t bins, float bound,
                                    float scale, int nth) {
  return run_threads(nth, [&](int i, int n) { k::spline_coupling(z, h, y, t, bins, bound, scale, i, n); return true; });
}
