#include "backend/cpu/cpu_compute.h"

#include "kernels/ops.h"

namespace nm {
namespace {

namespace k = kernels;

bool dense(const Tensor& t) { return t.is_contiguous(); }
const Tensor& src(const Graph& g, const Node& n, int i) { return g.node(n.src[(size_t)i]).t; }
const float* f32(const Tensor& t) { return static_cast<const float*>(t.data); }
float* f32_out(const Tensor& t) { return static_cast<float*>(t.data); }

// Whether `t` is laid out as [rows][heads][head_dim] with rows along `row_dim` and heads
// along `head_dim_index`: what the attention kernel reads for q (and k, v rows).
bool rows_of_heads(const Tensor& t, int row_dim, int head_dim_index) {
  const size_t row = row_size(t.type, t.ne[0]);
  return t.nb[0] == type_traits(t.type)->type_size && t.nb[(size_t)head_dim_index] == row &&
         t.nb[(size_t)row_dim] == row * (size_t)t.ne[(size_t)head_dim_index] && t.ne[3] == 1;
}

// b broadcasts into a as the kernels do it: same ne0, rows repeating with period b_rows.
bool row_broadcast(const Tensor& a, const Tensor& b) {
  if (a.ne[0] != b.ne[0]) return false;
  const int64_t b_rows = b.n_rows();
  return b_rows == a.n_rows() || (b.ne[2] == 1 && b.ne[3] == 1 && a.ne[1] % b.ne[1] == 0 && b.ne[1] == b_rows &&
                                  (b.ne[1] == 1 || (a.ne[2] == 1 && a.ne[3] == 1)));
}

k::Conv2dShape conv2d_shape(const Tensor& kernel, const Tensor& input, const ConvParams& p) {
  k::Conv2dShape s{};
  s.c_in = input.ne[2];
  s.h_in = input.ne[1];
  s.w_in = input.ne[0];
  s.c_out = kernel.ne[3];
  s.kh = kernel.ne[1];
  s.kw = kernel.ne[0];
  s.stride_h = p.s1;
  s.stride_w = p.s0;
  s.pad_h = p.p1;
  s.pad_w = p.p0;
  return s;
}

}  // namespace

bool cpu_compute_supported(const Graph& g, const Node& n) {
  auto all_dense_f32 = [&]() {
    if (n.t.type != DType::F32 || !dense(n.t)) return false;
    for (int i = 0; i < n.n_src; ++i) {
      const Tensor& s = src(g, n, i);
      if (s.type != DType::F32 || !dense(s)) return false;
    }
    return true;
  };
  switch (n.op) {
    case OpKind::rms_norm: case OpKind::layer_norm: case OpKind::softmax:
    case OpKind::gelu: case OpKind::gelu_erf: case OpKind::gelu_quick: case OpKind::silu:
    case OpKind::swiglu: case OpKind::scale:
      return all_dense_f32();
    case OpKind::add: case OpKind::mul:
      return all_dense_f32() && row_broadcast(src(g, n, 0), src(g, n, 1));
    case OpKind::rope:
      return n.t.type == DType::F32 && dense(n.t) && src(g, n, 0).type == DType::F32 && dense(src(g, n, 0)) &&
             src(g, n, 1).type == DType::I32 && (n.n_src < 3 || (src(g, n, 2).type == DType::F32 && dense(src(g, n, 2))));
    case OpKind::attention: {
      const Tensor &q = src(g, n, 0), &kk = src(g, n, 1), &v = src(g, n, 2);
      const bool kv_ok = kk.type == v.type &&
                         (kk.type == DType::F32 || kk.type == DType::F16 || kk.type == DType::Q8_0) &&
                         kk.ne[0] == v.ne[0] && kk.nb[1] == v.nb[1] && kk.nb[2] == v.nb[2];
      const bool mask_ok = n.n_src < 4 || (src(g, n, 3).type == DType::F32 && src(g, n, 3).nb[0] == 4);
      return q.type == DType::F32 && rows_of_heads(q, 1, 2) && rows_of_heads(kk, 1, 2) && rows_of_heads(v, 1, 2) &&
             kv_ok && mask_ok && dense(n.t) && q.ne[3] == 1;
    }
    case OpKind::im2col: {
      const auto& p = std::get<ConvParams>(n.params);
      return p.is_2d && p.dst_type == DType::F32 && p.d0 == 1 && p.d1 == 1 && src(g, n, 1).type == DType::F32 &&
             dense(src(g, n, 1)) && src(g, n, 1).ne[3] == 1 && dense(n.t);
    }
    case OpKind::conv2d: {
      const auto& p = std::get<ConvParams>(n.params);
      return all_dense_f32() && p.d0 == 1 && p.d1 == 1 && src(g, n, 1).ne[3] == 1;
    }
    case OpKind::conv1d: {
      const auto& p = std::get<ConvParams>(n.params);
      return all_dense_f32() && p.d0 == 1 && src(g, n, 1).ne[2] == 1;
    }
    case OpKind::relu: case OpKind::tanh: case OpKind::leaky_relu: case OpKind::flip: case OpKind::unfold1d:
    case OpKind::conv1d_dw: case OpKind::col2im1d: case OpKind::rel_attention: case OpKind::gate_tanh_sigmoid:
    case OpKind::spline_coupling: case OpKind::conv1d_rows:
      return all_dense_f32();
    default:
      return false;
  }
}

size_t cpu_compute_scratch(const Graph& g, const Node& n) {
  if (n.op != OpKind::conv2d) return 0;
  const auto s = conv2d_shape(src(g, n, 0), src(g, n, 1), std::get<ConvParams>(n.params));
  return (size_t)(s.h_out() * s.w_out() * s.c_in * s.kh * s.kw) * sizeof(float);
}

Status cpu_compute(const Graph& g, const Node& n, Isa isa, void* scratch, int ith, int nth,
                   std::atomic<int64_t>* next_unit) {
  const Tensor& y = n.t;
  const Tensor& x = src(g, n, 0);
  switch (n.op) {
    case OpKind::rms_norm:
      k::rms_norm(f32(x), f32_out(y), n.n_src > 1 ? f32(src(g, n, 1)) : nullptr, x.n_rows(), x.ne[0],
                  std::get<NormParams>(n.params).eps, isa, ith, nth);
      return Status();
    case OpKind::layer_norm:
      k::layer_norm(f32(x), f32_out(y), n.n_src > 1 ? f32(src(g, n, 1)) : nullptr,
                    n.n_src > 2 ? f32(src(g, n, 2)) : nullptr, x.n_rows(), x.ne[0],
                    std::get<NormParams>(n.params).eps, isa, ith, nth);
      return Status();
    case OpKind::rope: {
      const auto& p = std::get<RopeParams>(n.params);
      k::RopeParams kp;
      kp.mode = p.mode == RopeMode::neox ? k::RopeMode::neox : k::RopeMode::normal;
      kp.n_rot = p.n_dims == 0 ? (int)x.ne[0] : p.n_dims;
      kp.freq_base = p.freq_base;
      kp.freq_scale = p.freq_scale;
      kp.freq_factors = n.n_src > 2 ? f32(src(g, n, 2)) : nullptr;
      return k::rope(f32(x), f32_out(y), static_cast<const int32_t*>(src(g, n, 1).data), x.ne[2], x.ne[1], x.ne[0],
                     kp, isa, ith, nth);
    }
    case OpKind::softmax: {
      const Tensor* m = n.n_src > 1 ? &src(g, n, 1) : nullptr;
      k::softmax(f32(x), f32_out(y), m ? f32(*m) : nullptr, m ? m->n_rows() : 1, x.n_rows(), x.ne[0],
                 std::get<SoftmaxParams>(n.params).scale, isa, ith, nth);
      return Status();
    }
    case OpKind::attention: {
      const Tensor &kk = src(g, n, 1), &v = src(g, n, 2);
      k::AttentionParams p;
      p.n_tokens = x.ne[1];
      p.n_head = x.ne[2];
      p.n_head_kv = kk.ne[2];
      p.head_dim = x.ne[0];
      p.n_kv = kk.ne[1];
      p.causal = false;  // the graph carries causality in its mask
      p.scale = std::get<AttentionParams>(n.params).scale;
      p.kv_type = kk.type;
      if (n.n_src > 3) {
        p.mask = f32(src(g, n, 3));
        p.mask_stride = (int64_t)(src(g, n, 3).nb[1] / sizeof(float));
      }
      p.next_unit = next_unit;
      return k::attention(f32(x), kk.data, v.data, f32_out(y), p, isa, ith, nth);
    }
    case OpKind::gelu: k::activation(k::Act::gelu, f32(x), f32_out(y), x.n_elements(), isa, ith, nth); return Status();
    case OpKind::gelu_erf: k::activation(k::Act::gelu_erf, f32(x), f32_out(y), x.n_elements(), isa, ith, nth); return Status();
    case OpKind::gelu_quick: k::activation(k::Act::gelu_quick, f32(x), f32_out(y), x.n_elements(), isa, ith, nth); return Status();
    case OpKind::silu: k::activation(k::Act::silu, f32(x), f32_out(y), x.n_elements(), isa, ith, nth); return Status();
    case OpKind::swiglu:
      k::swiglu(f32(x), f32(src(g, n, 1)), f32_out(y), x.n_elements(), isa, ith, nth);
      return Status();
    case OpKind::add:
    case OpKind::mul: {
      const Tensor& b = src(g, n, 1);
      auto fn = n.op == OpKind::add ? k::add : k::mul;
      fn(f32(x), f32(b), f32_out(y), x.n_rows(), x.ne[0], b.n_rows(), isa, ith, nth);
      return Status();
    }
    case OpKind::scale:
      k::scale(f32(x), f32_out(y), x.n_elements(), std::get<ScaleParams>(n.params).s, isa, ith, nth);
      return Status();
    case OpKind::im2col: {
      const auto s = conv2d_shape(x, src(g, n, 1), std::get<ConvParams>(n.params));
      k::im2col_2d(f32(src(g, n, 1)), s, f32_out(y), ith, nth);
      return Status();
    }
    case OpKind::conv2d: {
      const auto s = conv2d_shape(x, src(g, n, 1), std::get<ConvParams>(n.params));
      // Single-threaded kernel: thread 0 does it (conv2d is only the vision stem).
      if (ith != 0) return Status();
      return k::conv2d(f32(src(g, n, 1)), f32(x), nullptr, s, static_cast<float*>(scratch), f32_out(y));
    }
    case OpKind::conv1d: {
      const Tensor& in = src(g, n, 1);
      const auto& p = std::get<ConvParams>(n.params);
      k::Conv1dShape s{in.ne[1], in.ne[0], x.ne[2], x.ne[0], p.s0, p.p0};
      return k::conv1d(f32(in), f32(x), nullptr, s, f32_out(y), ith, nth);
    }
    case OpKind::relu: k::relu(f32(x), f32_out(y), x.n_elements(), ith, nth); return Status();
    case OpKind::tanh: k::tanh(f32(x), f32_out(y), x.n_elements(), ith, nth); return Status();
    case OpKind::leaky_relu:
      k::leaky_relu(f32(x), f32_out(y), x.n_elements(), std::get<SlopeParams>(n.params).slope, ith, nth);
      return Status();
    case OpKind::flip: k::flip_rows(f32(x), f32_out(y), x.n_rows(), x.ne[0], ith, nth); return Status();
    case OpKind::gate_tanh_sigmoid: k::gate_tanh_sigmoid(f32(x), f32_out(y), y.n_rows(), y.ne[0], ith, nth); return Status();
    case OpKind::unfold1d: {
      const auto& p = std::get<Conv1dRowsParams>(n.params);
      k::unfold1d(f32(x), k::Conv1dRows{x.ne[0], x.ne[1], p.k, p.stride, p.pad, p.dilation}, p.slope, f32_out(y), ith, nth);
      return Status();
    }
    case OpKind::conv1d_dw: {
      const Tensor& in = src(g, n, 1);
      const auto& p = std::get<Conv1dRowsParams>(n.params);
      k::conv1d_depthwise(f32(in), f32(x), k::Conv1dRows{in.ne[0], in.ne[1], p.k, p.stride, p.pad, p.dilation},
                          f32_out(y), ith, nth);
      return Status();
    }
    case OpKind::col2im1d: {
      const auto& p = std::get<Conv1dRowsParams>(n.params);
      k::col2im1d(f32(x), x.ne[1], y.ne[0], p.k, p.stride, p.pad, f32_out(y), ith, nth);
      return Status();
    }
    case OpKind::rel_attention: {
      const auto& p = std::get<RelAttentionParams>(n.params);
      const Tensor& emb = src(g, n, 3);  // [d, 2w+1, 2]: key table, then value table
      return k::rel_attention(f32(x), f32(src(g, n, 1)), f32(src(g, n, 2)), f32(emb), f32(emb) + emb.ne[0] * emb.ne[1],
                              f32_out(y), x.ne[1], p.n_heads, x.ne[0] / p.n_heads, p.window, isa, ith, nth);
    }
    case OpKind::spline_coupling: {
      const auto& p = std::get<SplineParams>(n.params);
      k::spline_coupling(f32(x), f32(src(g, n, 1)), f32_out(y), x.ne[1], p.n_bins, p.tail_bound, p.scale, ith, nth);
      return Status();
    }
    default:
      return error(ErrorCode::internal, std::string(op_name(n.op)) + " is not a CPU compute op");
  }
}

}  // namespace nm
