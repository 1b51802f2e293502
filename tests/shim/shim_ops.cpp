// Shim over kernels/ops.h: each entry runs one op on a ThreadPool of nth threads with the
// given Isa (an int, the nm::Isa value) and returns 0, or 1 when the op reports an error.
#include <atomic>

#include "core/thread_pool.h"
#include "kernels/ops.h"
#include "tests/shim/shim.h"

namespace {
template <class F>
int run_threads(int nth, F&& f) {
  nm::ThreadPool pool(nth);
  pool.run([&](int ith, int n) { f(ith, n); });
  return 0;
}
template <class F>
int run_status(int nth, F&& f) {
  std::atomic<int> bad{0};
  run_threads(nth, [&](int ith, int n) { if (!f(ith, n).ok()) bad = 1; });
  return bad.load();
}
nm::Isa to_isa(int isa) { return static_cast<nm::Isa>(isa); }
}  // namespace


NM_SHIM int nm_shim_rms_norm(const float* x, float* y, const float* w, int64_t rows, int64_t n,
                             float eps, int isa, int nth) {
  return run_threads(nth, [&](int i, int t) { nm::kernels::rms_norm(x, y, w, rows, n, eps, to_isa(isa), i, t); });
}

NM_SHIM int nm_shim_layer_norm(const float* x, float* y, const float* w, const float* b,
                               int64_t rows, int64_t n, float eps, int isa, int nth) {
  return run_threads(nth, [&](int i, int t) { nm::kernels::layer_norm(x, y, w, b, rows, n, eps, to_isa(isa), i, t); });
}

NM_SHIM int nm_shim_rope(const float* x, float* y, const int32_t* pos, int64_t nt, int64_t nh,
                         int64_t hd, int mode, int n_rot, float base, float fscale,
                         const float* factors, int isa, int nth) {
  nm::kernels::RopeParams p;
  p.mode = mode ? nm::kernels::RopeMode::neox : nm::kernels::RopeMode::normal;
  p.n_rot = n_rot;
  p.freq_base = base;
  p.freq_scale = fscale;
  p.freq_factors = factors;
  return run_status(nth, [&](int i, int t) { return nm::kernels::rope(x, y, pos, nt, nh, hd, p, to_isa(isa), i, t); });
}

NM_SHIM int nm_shim_softmax(const float* x, float* y, const float* mask, int64_t mask_rows,
                            int64_t rows, int64_t n, float scale, int isa, int nth) {
  return run_threads(nth, [&](int i, int t) { nm::kernels::softmax(x, y, mask, mask_rows, rows, n, scale, to_isa(isa), i, t); });
}

NM_SHIM int nm_shim_attention(const float* q, const void* k, const void* v, float* out, int64_t nt,
                              int64_t nh, int64_t nhkv, int64_t hd, int64_t nkv, int64_t pos0,
                              int causal, float scale, int kv_type, const float* mask,
                              int64_t mask_stride, int isa, int nth) {
  nm::kernels::AttentionParams p;
  p.n_tokens = nt; p.n_head = nh; p.n_head_kv = nhkv; p.head_dim = hd; p.n_kv = nkv;
  p.pos0 = pos0; p.causal = causal != 0; p.scale = scale;
  p.kv_type = static_cast<nm::DType>(kv_type); p.mask = mask; p.mask_stride = mask_stride;
  return run_status(nth, [&](int i, int t) { return nm::kernels::attention(q, k, v, out, p, to_isa(isa), i, t); });
}

NM_SHIM int nm_shim_activation(int act, const float* x, float* y, int64_t n, int isa, int nth) {
  return run_threads(nth, [&](int i, int t) { nm::kernels::activation(static_cast<nm::kernels::Act>(act), x, y, n, to_isa(isa), i, t); });
}

NM_SHIM int nm_shim_swiglu(const float* a, const float* b, float* y, int64_t n, int isa, int nth) {
  return run_threads(nth, [&](int i, int t) { nm::kernels::swiglu(a, b, y, n, to_isa(isa), i, t); });
}

// op 0 = add, 1 = mul
NM_SHIM int nm_shim_binary(int op, const float* a, const float* b, float* y, int64_t rows, int64_t n,
                           int64_t b_rows, int isa, int nth) {
  return run_threads(nth, [&](int i, int t) {
    if (op == 0) nm::kernels::add(a, b, y, rows, n, b_rows, to_isa(isa), i, t);
    else nm::kernels::mul(a, b, y, rows, n, b_rows, to_isa(isa), i, t);
  });
}

NM_SHIM int nm_shim_scale(const float* x, float* y, int64_t n, float s, int isa, int nth) {
  return run_threads(nth, [&](int i, int t) { nm::kernels::scale(x, y, n, s, to_isa(isa), i, t); });
}

NM_SHIM int nm_shim_get_rows(const void* src, int type, int64_t n_src, int64_t n, const int32_t* ids,
                             int64_t n_ids, float* dst, int nth) {
  return run_status(nth, [&](int i, int t) {
    return nm::kernels::get_rows(src, static_cast<nm::DType>(type), n_src, n, ids, n_ids, dst, i, t);
  });
}

NM_SHIM int nm_shim_concat(const float* a, const int64_t* a_ne, const float* b, const int64_t* b_ne,
                           int dim, float* dst, int nth) {
  return run_status(nth, [&](int i, int t) { return nm::kernels::concat(a, a_ne, b, b_ne, dim, dst, i, t); });
}

NM_SHIM int nm_shim_conv2d(const float* x, const float* w, const float* b, const int64_t* dims,
                           float* scratch, float* y) {
  // dims: c_in, h_in, w_in, c_out, kh, kw, stride_h, stride_w, pad_h, pad_w
  nm::kernels::Conv2dShape s{dims[0], dims[1], dims[2], dims[3], dims[4], dims[5], dims[6], dims[7], dims[8], dims[9]};
  return nm::kernels::conv2d(x, w, b, s, scratch, y).ok() ? 0 : 1;
}

NM_SHIM int nm_shim_conv1d(const float* x, const float* w, const float* b, const int64_t* dims,
                           float* y, int nth) {
  // dims: c_in, l_in, c_out, k, stride, pad
  nm::kernels::Conv1dShape s{dims[0], dims[1], dims[2], dims[3], dims[4], dims[5]};
  return run_status(nth, [&](int i, int t) { return nm::kernels::conv1d(x, w, b, s, y, i, t); });
}
