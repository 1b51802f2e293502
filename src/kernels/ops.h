// CPU element-wise, row and attention ops on f32 data (the single public header of these
// ops). Every op takes the Isa to use (scalar is always valid; others fall back to scalar
// where no SIMD variant exists) and (ith, nth): call it from ThreadPool::run with the
// pool's (ith, nth), or with (0, 1) single-threaded. Work is split by whole rows (or
// (token, head) pairs), each output written by one thread in a fixed order, so results
// are bit-identical for any nth. Ops are stateless and thread-safe. Shapes are given
// outermost first and all tensors are contiguous unless a stride is named.
#pragma once
#include <atomic>
#include <cstdint>

#include "core/dtype.h"
#include "core/status.h"
#include "kernels/cpu_features.h"

namespace nm::kernels {

// Rows [begin, end) of n_rows owned by thread ith of nth (contiguous, balanced).
struct RowRange { int64_t begin, end; };
RowRange split_rows(int64_t n_rows, int ith, int nth);
// Elements [begin, end) of n for thread ith, cut at multiples of 64 so that SIMD
// main loops and scalar tails cover the same elements whatever nth is.
RowRange split_elems(int64_t n, int ith, int nth);

// ---- norms (norm.cpp): x, y are [n_rows, n]; y may alias x ----
// y = x / sqrt(mean(x^2) + eps) [* w]   (RMSNorm, Zhang & Sennrich 2019); w [n] or null.
void rms_norm(const float* x, float* y, const float* w, int64_t n_rows, int64_t n, float eps,
              Isa isa, int ith, int nth);
// y = (x - mean) / sqrt(var + eps) [* w] [+ b]; var is the biased (1/n) variance.
void layer_norm(const float* x, float* y, const float* w, const float* b, int64_t n_rows,
                int64_t n, float eps, Isa isa, int ith, int nth);

// ---- rotary position embedding (rope.cpp) ----
enum class RopeMode {
  normal,  // rotates adjacent pairs (x[2i], x[2i+1]) -- LLaMA as stored in GGUF
  neox,    // rotates (x[i], x[i + n_rot/2]) -- GPT-NeoX / Qwen / Phi
};
struct RopeParams {
  RopeMode mode = RopeMode::normal;
  int n_rot = 0;                       // rotated dims (even, <= head_dim); rest copied
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;             // linear position interpolation factor
  const float* freq_factors = nullptr; // [n_rot/2] or null; theta_i is divided by it
};
// x, y [n_tokens, n_head, head_dim] (y may alias x); pos [n_tokens].
// For pair i (0 <= i < n_rot/2): theta = pos * freq_scale * base^(-2i/n_rot) / factor[i],
// (a, b) -> (a cos theta - b sin theta, a sin theta + b cos theta).
// Work split over tokens. Fails on odd n_rot or n_rot > head_dim.
Status rope(const float* x, float* y, const int32_t* pos, int64_t n_tokens, int64_t n_head,
            int64_t head_dim, const RopeParams& p, Isa isa, int ith, int nth);

// ---- softmax (softmax.cpp) ----
// y[r] = softmax(scale * x[r] + mask[r % mask_rows]) over n columns; mask [mask_rows, n]
// f32 additive (may hold -inf) or null. A row whose every entry is -inf gives all zeros.
// y may alias x.
void softmax(const float* x, float* y, const float* mask, int64_t mask_rows, int64_t n_rows,
             int64_t n, float scale, Isa isa, int ith, int nth);

// ---- fused attention (attention.cpp) ----
struct AttentionParams {
  int64_t n_tokens = 0;   // query rows
  int64_t n_head = 0;
  int64_t n_head_kv = 0;  // n_head % n_head_kv == 0; head h reads kv head h / (n_head/n_head_kv)
  int64_t head_dim = 0;   // a multiple of 32 when the KV type is Q8_0
  int64_t n_kv = 0;       // kv positions available in the cache
  int64_t pos0 = 0;       // absolute position of query 0
  bool causal = true;     // query i sees kv j <= pos0 + i; else all n_kv
  float scale = 1.0f;     // usually 1/sqrt(head_dim)
  DType kv_type = DType::F32;  // F32, F16 or Q8_0
  // additive f32 mask [n_tokens, mask_stride] (entry (i, j) for query i, kv j) or null.
  const float* mask = nullptr;
  int64_t mask_stride = 0;
  // Where set (0 on entry), the threads take work units from this counter instead of every
  // nth-th one: any thread may do any unit, so a pool that does not wait for a late worker
  // (ThreadPool::run_stealable) still finishes. The units, hence the bits, stay the same.
  std::atomic<int64_t>* next_unit = nullptr;
};
// out[i,h,:] = sum_j softmax_j(scale * q[i,h]·k[j,kvh] + mask[i,j]) v[j,kvh,:], computed
// with an online softmax (no score matrix). q, out [n_tokens, n_head, head_dim] f32; k, v
// [n_kv, n_head_kv, head_dim] of kv_type (rows of head_dim elements). A query that sees no
// kv (or only -inf) gives zeros. Work split over (token, head) pairs.
Status attention(const float* q, const void* k, const void* v, float* out,
                 const AttentionParams& p, Isa isa, int ith, int nth);

// ---- activations (activations.cpp): n elements, y may alias x ----
enum class Act { gelu, gelu_erf, gelu_quick, silu };
// gelu: 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3))) (ggml's tanh form); gelu_erf: 0.5x(1+erf(x/sqrt2));
// gelu_quick: x*sigmoid(1.702x); silu: x*sigmoid(x). Split over ranges of elements.
void activation(Act act, const float* x, float* y, int64_t n, Isa isa, int ith, int nth);
// y = silu(a) * b elementwise (SwiGLU FFN gate).
void swiglu(const float* a, const float* b, float* y, int64_t n, Isa isa, int ith, int nth);

// ---- binary (binary.cpp): a, y [n_rows, n]; b [b_rows, n] broadcast: row r uses b[r % b_rows] ----
void add(const float* a, const float* b, float* y, int64_t n_rows, int64_t n, int64_t b_rows,
         Isa isa, int ith, int nth);
void mul(const float* a, const float* b, float* y, int64_t n_rows, int64_t n, int64_t b_rows,
         Isa isa, int ith, int nth);
// y = s * x over n elements.
void scale(const float* x, float* y, int64_t n, float s, Isa isa, int ith, int nth);

// ---- rows (rows.cpp) ----
// dst[i] = float(src row ids[i]) for i < n_ids; src is [n_src_rows, n] of `type`. F32, F16,
// BF16 directly; quantised types through type_traits(type)->to_float (unsupported if null).
// Out-of-range ids are invalid_argument.
Status get_rows(const void* src, DType type, int64_t n_src_rows, int64_t n, const int32_t* ids,
                int64_t n_ids, float* dst, int ith, int nth);
// Concatenation of two contiguous tensors of rank 4 (ne[0] innermost, ggml order) along
// dim: a [a_ne], b [b_ne] equal except in dim; dst shape = a_ne with ne[dim] summed.
Status concat(const float* a, const int64_t a_ne[4], const float* b, const int64_t b_ne[4],
              int dim, float* dst, int ith, int nth);

// ---- convolution (conv.cpp): im2col + a plain f32 GEMM loop (correct, not fast) ----
struct Conv2dShape {
  int64_t c_in, h_in, w_in;    // input [c_in, h_in, w_in]
  int64_t c_out, kh, kw;       // weight [c_out, c_in, kh, kw]
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  int64_t h_out() const { return (h_in + 2 * pad_h - kh) / stride_h + 1; }
  int64_t w_out() const { return (w_in + 2 * pad_w - kw) / stride_w + 1; }
};
// cols [h_out*w_out, c_in*kh*kw]: row p = patch at output pixel p, zeros where padded.
void im2col_2d(const float* x, const Conv2dShape& s, float* cols, int ith, int nth);
// y [c_out, h_out, w_out] = weight * im2col(x) + bias[c_out] (bias may be null).
// scratch holds h_out*w_out*c_in*kh*kw floats. Single-threaded; to thread it, call
// im2col_2d then gemm_f32_nt in two ThreadPool::run calls (the GEMM needs every patch).
Status conv2d(const float* x, const float* weight, const float* bias, const Conv2dShape& s,
              float* scratch, float* y);
// Plain GEMM over rows of C split by thread: C[m, n] = A[m, k] · B[n, k]^T (+ bias[m]).
void gemm_f32_nt(const float* a, const float* b, const float* bias, float* c, int64_t m,
                 int64_t n, int64_t k, int ith, int nth);
// Whisper-style 1-D convolution: x [c_in, l_in], weight [c_out, c_in, k], bias [c_out] or
// null; y [c_out, l_out], l_out = (l_in + 2*pad - k)/stride + 1. Split over c_out.
struct Conv1dShape {
  int64_t c_in, l_in, c_out, k, stride = 1, pad = 0;
  int64_t l_out() const { return (l_in + 2 * pad - k) / stride + 1; }
};
Status conv1d(const float* x, const float* weight, const float* bias, const Conv1dShape& s,
              float* y, int ith, int nth);

// ---- speech synthesis (VITS): rows of channels, one row per frame ----
// speech_activations.cpp: n elements, y may alias x (flip: not in place).
void relu(const float* x, float* y, int64_t n, int ith, int nth);
void tanh(const float* x, float* y, int64_t n, int ith, int nth);
void leaky_relu(const float* x, float* y, int64_t n, float slope, int ith, int nth);
// y[r][i] = x[r][n - 1 - i] for rows r < n_rows.
void flip_rows(const float* x, float* y, int64_t n_rows, int64_t n, int ith, int nth);
// y [n_rows, h] = tanh(x[r][i]) * sigmoid(x[r][h + i]) for x [n_rows, 2h].
void gate_tanh_sigmoid(const float* x, float* y, int64_t n_rows, int64_t h, int ith, int nth);

// conv1d_rows.cpp. x is [t_in, c] (row per frame).
struct Conv1dRows {
  int64_t c = 0, t_in = 0;             // channels, input frames
  int64_t k = 1, stride = 1, pad = 0, dilation = 1;
  int64_t t_out() const { return (t_in + 2 * pad - dilation * (k - 1) - 1) / stride + 1; }
};
// cols [t_out, k*c] (tap-major): cols[t][j*c + ch] = f(x[t*stride - pad + j*dilation][ch]),
// 0 outside x, where f is the leaky ReLU of `slope` (slope 1: the identity).
void unfold1d(const float* x, const Conv1dRows& s, float slope, float* cols, int ith, int nth);
// Depthwise: y [t_out, c], y[t][ch] = sum_j w[ch*k + j] x[t*stride - pad + j*dilation][ch].
void conv1d_depthwise(const float* x, const float* w, const Conv1dRows& s, float* y, int ith, int nth);
// Overlap-add of a transposed convolution: cols [t_in, oc*k] -> y [t_out, oc] with
// t_out = (t_in - 1)*stride - 2*pad + k: y[t*stride + j - pad][o] = sum of cols[t][o*k + j].
// Split over output frames: each output is summed by one thread in a fixed order.
void col2im1d(const float* cols, int64_t t_in, int64_t oc, int64_t k, int64_t stride, int64_t pad,
              float* y, int ith, int nth);

// rel_attention.cpp: VITS's relative-position attention (graph.h, Graph::rel_attention).
// q, k, v, out [t, n_heads*d]; emb_k, emb_v [2*window + 1, d]. Work split over (head, query);
// the same bits for any split.
Status rel_attention(const float* q, const float* k, const float* v, const float* emb_k, const float* emb_v,
                     float* out, int64_t t, int64_t n_heads, int64_t d, int64_t window, Isa isa, int ith, int nth);

// rq_spline.cpp: VITS's ConvFlow step in reverse. z, y [t, 2]; h [t, 3*bins - 1] holding
// unnormalised widths (times `scale`), heights (times `scale`) and the bins - 1 interior
// derivatives. y[r][0] = z[r][0]; y[r][1] = the inverse of the rational-quadratic spline on
// [-B, B] (min bin width/height/derivative 1e-3, boundary derivatives 1) at z[r][1],
// identity outside [-B, B]. Computed in double.
void spline_coupling(const float* z, const float* h, float* y, int64_t t, int64_t n_bins, float tail_bound,
                     float scale, int ith, int nth);

}  // namespace nm::kernels
