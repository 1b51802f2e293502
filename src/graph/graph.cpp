// Graph builder: shape inference and validation for every op kind.
#include "graph/graph.h"

#include <cmath>
#include <utility>

namespace nm {
namespace {

constexpr const char* kOpNames[] = {
    "input", "weight", "output", "reshape", "view", "permute", "transpose", "cpy", "cont",
    "get_rows", "concat", "matmul", "rms_norm", "layer_norm", "rope", "softmax", "attention",
    "gelu", "gelu_erf", "gelu_quick", "silu", "swiglu", "add", "mul", "scale", "im2col",
    "conv2d", "conv1d", "relu", "tanh", "leaky_relu", "flip", "unfold1d", "conv1d_dw",
    "col2im1d", "rel_attention", "gate_tanh_sigmoid", "spline_coupling", "conv1d_rows"};
static_assert(sizeof(kOpNames) / sizeof(kOpNames[0]) == (size_t)OpKind::count_);

bool is_float_type(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

bool same_shape(const Tensor& a, const Tensor& b) { return a.ne == b.ne; }

// Byte span [lo, hi) touched by a strided descriptor, relative to element 0.
size_t span_bytes(const Tensor& t) {
  if (t.n_elements() == 0) return 0;
  size_t hi = row_size(t.type, t.ne[0]);
  for (int d = 1; d < kMaxDims; ++d) hi += (size_t)(t.ne[d] - 1) * t.nb[d];
  return hi;
}

int64_t conv_out(int64_t in, int64_t k, int s, int p, int d) {
  return (in + 2 * (int64_t)p - (int64_t)d * (k - 1) - 1) / s + 1;
}

}  // namespace

const char* op_name(OpKind op) {
  return (size_t)op < (size_t)OpKind::count_ ? kOpNames[(size_t)op] : "?";
}

bool op_is_view(OpKind op) {
  switch (op) {
    case OpKind::output: case OpKind::reshape: case OpKind::view: case OpKind::permute:
    case OpKind::transpose: case OpKind::cpy:
      return true;
    default:
      return false;
  }
}

std::string Graph::shape_str(const Tensor& t) {
  std::string s(dtype_name(t.type));
  s += "[";
  for (int d = 0; d < kMaxDims; ++d) {
    s += std::to_string(t.ne[d]);
    s += d + 1 < kMaxDims ? ", " : "]";
  }
  return s;
}

NodeId Graph::fail(OpKind op, std::string message) {
  if (status_.ok()) status_ = error(ErrorCode::invalid_argument, std::string(op_name(op)) + ": " + message);
  return kInvalidNode;
}

bool Graph::check_ids(OpKind op, std::initializer_list<NodeId> ids) {
  for (NodeId id : ids) {
    if (id == kInvalidNode) {
      // An earlier call failed and recorded why; record something if it did not.
      fail(op, "input is an invalid node (an earlier builder call failed)");
      return false;
    }
    if (id < 0 || id >= (NodeId)nodes_.size()) {
      fail(op, "input node id " + std::to_string(id) + " does not exist in this graph");
      return false;
    }
  }
  return true;
}

NodeId Graph::add_node(OpKind op, DType type, std::array<int64_t, 4> ne,
                       std::initializer_list<NodeId> srcs, OpParams params) {
  for (int64_t n : ne) {
    if (n < 1) return fail(op, "result would have an empty or negative dimension");
  }
  if (ne[0] % block_size(type) != 0) {
    return fail(op, "ne0 " + std::to_string(ne[0]) + " is not a multiple of the " +
                        std::string(dtype_name(type)) + " block size");
  }
  Node n;
  n.op = op;
  n.t = Tensor::make(type, ne, nullptr);
  for (NodeId s : srcs) {
    if (s == kInvalidNode) continue;  // optional input left out
    n.src[(size_t)n.n_src++] = s;
  }
  n.params = std::move(params);
  n.storage = (NodeId)nodes_.size();
  nodes_.push_back(std::move(n));
  return nodes_.back().storage;
}

NodeId Graph::add_view(OpKind op, NodeId src, const Tensor& desc, size_t offset, OpParams params) {
  const Node& s = nodes_[(size_t)src];
  Node n;
  n.op = op;
  n.t = desc;
  n.t.data = nullptr;
  n.t.owner.reset();
  n.src[0] = src;
  n.n_src = 1;
  n.params = std::move(params);
  n.storage = s.storage;
  n.storage_offset = s.storage_offset + offset;
  nodes_.push_back(std::move(n));
  return (NodeId)nodes_.size() - 1;
}

// ---- leaves ---------------------------------------------------------------------------

NodeId Graph::input(DType type, std::array<int64_t, 4> ne, std::string name) {
  if (!type_traits(type)) return fail(OpKind::input, "unknown dtype");
  NodeId id = add_node(OpKind::input, type, ne, {});
  if (id != kInvalidNode) nodes_[(size_t)id].name = std::move(name);
  return id;
}

NodeId Graph::weight(const Tensor& w, std::string name) {
  if (!type_traits(w.type)) return fail(OpKind::weight, "'" + name + "' has an unknown dtype");
  if (w.data == nullptr) return fail(OpKind::weight, "'" + name + "' has no data");
  for (int64_t n : w.ne) {
    if (n < 1) return fail(OpKind::weight, "'" + name + "' has an empty dimension");
  }
  Node n;
  n.op = OpKind::weight;
  n.t = w;
  n.external = true;
  n.name = std::move(name);
  n.storage = (NodeId)nodes_.size();
  nodes_.push_back(std::move(n));
  return nodes_.back().storage;
}

NodeId Graph::output(NodeId x, std::string name) {
  if (!check_ids(OpKind::output, {x})) return kInvalidNode;
  NodeId id = add_view(OpKind::output, x, nodes_[(size_t)x].t, 0);
  nodes_[(size_t)id].name = std::move(name);
  nodes_[(size_t)id].is_output = true;
  outputs_.push_back(id);
  return id;
}

Status Graph::set_external(NodeId id, void* data) {
  if (id < 0 || id >= size()) return error(ErrorCode::internal, "set_external: node " + std::to_string(id) + " does not exist");
  Node& n = nodes_[(size_t)id];
  if (op_is_view(n.op) || n.op == OpKind::weight) {
    return error(ErrorCode::internal, "set_external: " + std::string(op_name(n.op)) + " node " + std::to_string(id) +
                                          " has no storage of its own");
  }
  if (!data) return error(ErrorCode::internal, "set_external: null memory");
  n.external = true;
  n.t.data = data;
  return Status();
}

// ---- views ----------------------------------------------------------------------------

NodeId Graph::reshape(NodeId x, std::array<int64_t, 4> ne) {
  if (!check_ids(OpKind::reshape, {x})) return kInvalidNode;
  const Tensor& s = nodes_[(size_t)x].t;
  if (!s.is_contiguous()) return fail(OpKind::reshape, "source " + shape_str(s) + " is not contiguous (use cont first)");
  Tensor d = Tensor::make(s.type, ne, nullptr);
  if (ne[0] < 1 || ne[1] < 1 || ne[2] < 1 || ne[3] < 1 || d.n_elements() != s.n_elements() ||
      ne[0] % block_size(s.type) != 0) {
    return fail(OpKind::reshape, "cannot reshape " + shape_str(s) + " to " + shape_str(d));
  }
  return add_view(OpKind::reshape, x, d, 0);
}

NodeId Graph::view(NodeId x, std::array<int64_t, 4> ne, std::array<size_t, 4> nb, size_t offset) {
  if (!check_ids(OpKind::view, {x})) return kInvalidNode;
  const Tensor& s = nodes_[(size_t)x].t;
  Tensor d = s;
  d.ne = ne;
  d.nb = nb;
  for (int64_t n : ne) {
    if (n < 1) return fail(OpKind::view, "empty dimension in view " + shape_str(d));
  }
  if (ne[0] % block_size(s.type) != 0) return fail(OpKind::view, "ne0 not a multiple of the block size");
  if (!s.is_contiguous()) return fail(OpKind::view, "source " + shape_str(s) + " is not contiguous");
  if (offset + span_bytes(d) > s.n_bytes()) {
    return fail(OpKind::view, "view " + shape_str(d) + " at offset " + std::to_string(offset) +
                                  " reaches past the end of its source " + shape_str(s));
  }
  return add_view(OpKind::view, x, d, offset, ViewParams{offset});
}

NodeId Graph::permute(NodeId x, std::array<int32_t, 4> axes) {
  if (!check_ids(OpKind::permute, {x})) return kInvalidNode;
  bool seen[4] = {false, false, false, false};
  for (int32_t a : axes) {
    if (a < 0 || a > 3 || seen[a]) return fail(OpKind::permute, "axes must be a permutation of 0..3");
    seen[a] = true;
  }
  const Tensor& s = nodes_[(size_t)x].t;
  if (type_traits(s.type)->is_quantized && axes[0] != 0) {
    return fail(OpKind::permute, "cannot move dim 0 of quantised " + shape_str(s));
  }
  Tensor d = s;
  for (int i = 0; i < 4; ++i) {
    d.ne[(size_t)axes[(size_t)i]] = s.ne[(size_t)i];
    d.nb[(size_t)axes[(size_t)i]] = s.nb[(size_t)i];
  }
  return add_view(OpKind::permute, x, d, 0, PermuteParams{axes});
}

NodeId Graph::transpose(NodeId x) {
  if (!check_ids(OpKind::transpose, {x})) return kInvalidNode;
  const Tensor& s = nodes_[(size_t)x].t;
  if (type_traits(s.type)->is_quantized) return fail(OpKind::transpose, "cannot transpose quantised " + shape_str(s));
  Tensor d = s;
  std::swap(d.ne[0], d.ne[1]);
  std::swap(d.nb[0], d.nb[1]);
  return add_view(OpKind::transpose, x, d, 0, PermuteParams{{1, 0, 2, 3}});
}

// ---- data movement --------------------------------------------------------------------

NodeId Graph::cpy(NodeId src, NodeId dst) {
  if (!check_ids(OpKind::cpy, {src, dst})) return kInvalidNode;
  const Tensor& s = nodes_[(size_t)src].t;
  const Tensor& d = nodes_[(size_t)dst].t;
  if (s.n_elements() != d.n_elements()) {
    return fail(OpKind::cpy, "element counts differ: " + shape_str(s) + " -> " + shape_str(d));
  }
  // F32 may also be quantised into a block type, row by row (e.g. a Q8_0 KV cache).
  const bool quantizing = s.type == DType::F32 && type_traits(d.type)->is_quantized && s.ne == d.ne;
  if (s.type != d.type && !(is_float_type(s.type) && is_float_type(d.type)) && !quantizing) {
    return fail(OpKind::cpy, "cannot convert " + shape_str(s) + " to " + shape_str(d));
  }
  if (nodes_[(size_t)dst].is_output) return fail(OpKind::cpy, "destination is a graph output");
  NodeId id = add_view(OpKind::cpy, dst, d, 0);
  Node& n = nodes_[(size_t)id];
  n.src = {src, dst, kInvalidNode, kInvalidNode};
  n.n_src = 2;
  return id;
}

NodeId Graph::cont(NodeId x, DType type) {
  if (!check_ids(OpKind::cont, {x})) return kInvalidNode;
  const Tensor& s = nodes_[(size_t)x].t;
  if (s.type != type && !(is_float_type(s.type) && is_float_type(type))) {
    return fail(OpKind::cont, "cannot convert " + shape_str(s) + " to " + std::string(dtype_name(type)));
  }
  return add_node(OpKind::cont, type, s.ne, {x});
}

NodeId Graph::get_rows(NodeId table, NodeId ids) {
  if (!check_ids(OpKind::get_rows, {table, ids})) return kInvalidNode;
  const Tensor& t = nodes_[(size_t)table].t;
  const Tensor& i = nodes_[(size_t)ids].t;
  if (i.type != DType::I32 || i.ne[1] != 1 || i.ne[2] != 1 || i.ne[3] != 1) {
    return fail(OpKind::get_rows, "ids must be i32[n, 1, 1, 1], got " + shape_str(i));
  }
  if (t.ne[2] != 1 || t.ne[3] != 1 || !type_traits(t.type)->to_float) {
    return fail(OpKind::get_rows, "table must be 2-D of a dtype with a dequantiser, got " + shape_str(t));
  }
  return add_node(OpKind::get_rows, DType::F32, {t.ne[0], i.ne[0], 1, 1}, {table, ids});
}

NodeId Graph::concat(NodeId a, NodeId b, int dim) {
  if (!check_ids(OpKind::concat, {a, b})) return kInvalidNode;
  const Tensor& x = nodes_[(size_t)a].t;
  const Tensor& y = nodes_[(size_t)b].t;
  if (dim < 0 || dim > 3) return fail(OpKind::concat, "dim " + std::to_string(dim) + " out of range 0..3");
  if (x.type != y.type || type_traits(x.type)->is_quantized) {
    return fail(OpKind::concat, "needs equal, non-quantised dtypes: " + shape_str(x) + ", " + shape_str(y));
  }
  std::array<int64_t, 4> ne = x.ne;
  for (int d = 0; d < 4; ++d) {
    if (d != dim && x.ne[(size_t)d] != y.ne[(size_t)d]) {
      return fail(OpKind::concat, "shapes " + shape_str(x) + " and " + shape_str(y) +
                                      " differ outside dim " + std::to_string(dim));
    }
  }
  ne[(size_t)dim] += y.ne[(size_t)dim];
  return add_node(OpKind::concat, x.type, ne, {a, b}, ConcatParams{dim});
}

// ---- compute --------------------------------------------------------------------------

NodeId Graph::matmul(NodeId a, NodeId b) {
  if (!check_ids(OpKind::matmul, {a, b})) return kInvalidNode;
  const Tensor& w = nodes_[(size_t)a].t;
  const Tensor& x = nodes_[(size_t)b].t;
  if (x.type != DType::F32) return fail(OpKind::matmul, "b must be f32, got " + shape_str(x));
  if (w.ne[0] != x.ne[0] || x.ne[2] % w.ne[2] != 0 || x.ne[3] % w.ne[3] != 0) {
    return fail(OpKind::matmul, "a " + shape_str(w) + " and b " + shape_str(x) +
                                    " need equal ne0 and b's dims 2,3 multiples of a's");
  }
  return add_node(OpKind::matmul, DType::F32, {w.ne[1], x.ne[1], x.ne[2], x.ne[3]}, {a, b});
}

NodeId Graph::norm(OpKind op, NodeId x, float eps, NodeId weight, NodeId bias) {
  if (!check_ids(op, {x})) return kInvalidNode;
  const Tensor& s = nodes_[(size_t)x].t;
  if (s.type != DType::F32) return fail(op, "x must be f32, got " + shape_str(s));
  if (!(eps >= 0.0f)) return fail(op, "eps must be >= 0");
  for (NodeId p : {weight, bias}) {
    if (p == kInvalidNode) continue;
    if (!check_ids(op, {p})) return kInvalidNode;
    const Tensor& w = nodes_[(size_t)p].t;
    if (w.type != DType::F32 || w.ne[0] != s.ne[0] || w.n_elements() != w.ne[0]) {
      return fail(op, "weight/bias must be f32[" + std::to_string(s.ne[0]) + "], got " + shape_str(w));
    }
  }
  return add_node(op, DType::F32, s.ne, {x, weight, bias}, NormParams{eps});
}

NodeId Graph::rms_norm(NodeId x, float eps, NodeId weight) { return norm(OpKind::rms_norm, x, eps, weight, kInvalidNode); }
NodeId Graph::layer_norm(NodeId x, float eps, NodeId weight, NodeId bias) { return norm(OpKind::layer_norm, x, eps, weight, bias); }

NodeId Graph::rope(NodeId x, NodeId pos, const RopeParams& p, NodeId freq_factors) {
  if (!check_ids(OpKind::rope, {x, pos})) return kInvalidNode;
  const Tensor& s = nodes_[(size_t)x].t;
  const Tensor& ps = nodes_[(size_t)pos].t;
  if (s.type != DType::F32) return fail(OpKind::rope, "x must be f32, got " + shape_str(s));
  if (ps.type != DType::I32 || ps.n_elements() != s.ne[2]) {
    return fail(OpKind::rope, "pos must be i32 with one entry per token (x ne2 = " + std::to_string(s.ne[2]) +
                                  "), got " + shape_str(ps));
  }
  const int64_t n_dims = p.n_dims == 0 ? s.ne[0] : p.n_dims;
  if (n_dims < 2 || n_dims > s.ne[0] || n_dims % 2 != 0) {
    return fail(OpKind::rope, "n_dims " + std::to_string(n_dims) + " must be even and in [2, ne0=" +
                                  std::to_string(s.ne[0]) + "]");
  }
  if (p.mode != RopeMode::normal && p.mode != RopeMode::neox) return fail(OpKind::rope, "unknown mode");
  if (!(p.freq_base > 0.0f) || !(p.freq_scale > 0.0f)) return fail(OpKind::rope, "freq_base and freq_scale must be > 0");
  if (freq_factors != kInvalidNode) {
    if (!check_ids(OpKind::rope, {freq_factors})) return kInvalidNode;
    const Tensor& ff = nodes_[(size_t)freq_factors].t;
    if (ff.type != DType::F32 || ff.n_elements() < n_dims / 2) {
      return fail(OpKind::rope, "freq_factors must be f32 with n_dims/2 = " + std::to_string(n_dims / 2) +
                                    " entries, got " + shape_str(ff));
    }
  }
  return add_node(OpKind::rope, DType::F32, s.ne, {x, pos, freq_factors}, p);
}

NodeId Graph::softmax(NodeId x, float scale, NodeId mask) {
  if (!check_ids(OpKind::softmax, {x})) return kInvalidNode;
  const Tensor& s = nodes_[(size_t)x].t;
  if (s.type != DType::F32) return fail(OpKind::softmax, "x must be f32, got " + shape_str(s));
  if (mask != kInvalidNode) {
    if (!check_ids(OpKind::softmax, {mask})) return kInvalidNode;
    const Tensor& m = nodes_[(size_t)mask].t;
    if ((m.type != DType::F32 && m.type != DType::F16) || m.ne[0] != s.ne[0] || m.ne[1] < s.ne[1] ||
        m.ne[2] != 1 || m.ne[3] != 1) {
      return fail(OpKind::softmax, "mask " + shape_str(m) + " does not fit x " + shape_str(s));
    }
  }
  return add_node(OpKind::softmax, DType::F32, s.ne, {x, mask}, SoftmaxParams{scale});
}

NodeId Graph::attention(NodeId q, NodeId k, NodeId v, float scale, NodeId mask) {
  if (!check_ids(OpKind::attention, {q, k, v})) return kInvalidNode;
  const Tensor& tq = nodes_[(size_t)q].t;
  const Tensor& tk = nodes_[(size_t)k].t;
  const Tensor& tv = nodes_[(size_t)v].t;
  const std::string shapes = "q " + shape_str(tq) + ", k " + shape_str(tk) + ", v " + shape_str(tv);
  auto kv_type_ok = [](DType t) { return is_float_type(t) || t == DType::Q8_0; };  // Q8_0: quantised KV cache
  if (tq.type != DType::F32 || !kv_type_ok(tk.type) || !kv_type_ok(tv.type)) {
    return fail(OpKind::attention, "q must be f32 and k, v float or q8_0: " + shapes);
  }
  if (tk.ne[0] != tq.ne[0] || tv.ne[1] != tk.ne[1] || tv.ne[2] != tk.ne[2] ||
      tq.ne[2] % tk.ne[2] != 0 || tk.ne[3] != tq.ne[3] || tv.ne[3] != tq.ne[3]) {
    return fail(OpKind::attention, "incompatible " + shapes);
  }
  if (mask != kInvalidNode) {
    if (!check_ids(OpKind::attention, {mask})) return kInvalidNode;
    const Tensor& m = nodes_[(size_t)mask].t;
    if ((m.type != DType::F32 && m.type != DType::F16) || m.ne[0] != tk.ne[1] || m.ne[1] < tq.ne[1] ||
        m.ne[2] != 1 || m.ne[3] != 1) {
      return fail(OpKind::attention, "mask " + shape_str(m) + " must be [n_kv, >= n_tokens]: " + shapes);
    }
  }
  return add_node(OpKind::attention, DType::F32, {tv.ne[0], tq.ne[2], tq.ne[1], tq.ne[3]}, {q, k, v, mask},
                  AttentionParams{scale});
}

NodeId Graph::unary(OpKind op, NodeId x, OpParams params) {
  if (!check_ids(op, {x})) return kInvalidNode;
  const Tensor& s = nodes_[(size_t)x].t;
  if (s.type != DType::F32) return fail(op, "x must be f32, got " + shape_str(s));
  return add_node(op, DType::F32, s.ne, {x}, std::move(params));
}

NodeId Graph::gelu(NodeId x) { return unary(OpKind::gelu, x); }
NodeId Graph::gelu_erf(NodeId x) { return unary(OpKind::gelu_erf, x); }
NodeId Graph::gelu_quick(NodeId x) { return unary(OpKind::gelu_quick, x); }
NodeId Graph::silu(NodeId x) { return unary(OpKind::silu, x); }
NodeId Graph::scale(NodeId x, float s) { return unary(OpKind::scale, x, ScaleParams{s}); }

NodeId Graph::swiglu(NodeId gate, NodeId up) {
  if (!check_ids(OpKind::swiglu, {gate, up})) return kInvalidNode;
  const Tensor& g = nodes_[(size_t)gate].t;
  const Tensor& u = nodes_[(size_t)up].t;
  if (g.type != DType::F32 || u.type != DType::F32 || !same_shape(g, u)) {
    return fail(OpKind::swiglu, "needs two f32 tensors of one shape, got " + shape_str(g) + ", " + shape_str(u));
  }
  return add_node(OpKind::swiglu, DType::F32, g.ne, {gate, up});
}

NodeId Graph::binary_broadcast(OpKind op, NodeId a, NodeId b) {
  if (!check_ids(op, {a, b})) return kInvalidNode;
  const Tensor& x = nodes_[(size_t)a].t;
  const Tensor& y = nodes_[(size_t)b].t;
  if (x.type != DType::F32 || y.type != DType::F32) {
    return fail(op, "needs f32 operands, got " + shape_str(x) + ", " + shape_str(y));
  }
  for (int d = 0; d < 4; ++d) {
    if (x.ne[(size_t)d] % y.ne[(size_t)d] != 0) {
      return fail(op, "b " + shape_str(y) + " does not broadcast into a " + shape_str(x));
    }
  }
  return add_node(op, DType::F32, x.ne, {a, b});
}

NodeId Graph::add(NodeId a, NodeId b) { return binary_broadcast(OpKind::add, a, b); }
NodeId Graph::mul(NodeId a, NodeId b) { return binary_broadcast(OpKind::mul, a, b); }

NodeId Graph::conv(OpKind op, NodeId kernel, NodeId input, const ConvParams& p) {
  if (!check_ids(op, {kernel, input})) return kInvalidNode;
  const Tensor& k = nodes_[(size_t)kernel].t;
  const Tensor& x = nodes_[(size_t)input].t;
  const std::string shapes = "kernel " + shape_str(k) + ", input " + shape_str(x);
  const bool is_2d = op == OpKind::conv2d || (op == OpKind::im2col && p.is_2d);
  if (p.s0 < 1 || p.s1 < 1 || p.d0 < 1 || p.d1 < 1 || p.p0 < 0 || p.p1 < 0) {
    return fail(op, "strides and dilations must be >= 1 and paddings >= 0");
  }
  if (!is_float_type(k.type) || x.type != DType::F32) return fail(op, "needs a float kernel and f32 input: " + shapes);
  if (op == OpKind::im2col && !is_float_type(p.dst_type)) return fail(op, "dst_type must be f32, f16 or bf16");
  if (is_2d) {
    if (k.ne[2] != x.ne[2]) return fail(op, "input channels differ: " + shapes);
    const int64_t ow = conv_out(x.ne[0], k.ne[0], p.s0, p.p0, p.d0);
    const int64_t oh = conv_out(x.ne[1], k.ne[1], p.s1, p.p1, p.d1);
    if (ow < 1 || oh < 1) return fail(op, "kernel larger than padded input: " + shapes);
    if (op == OpKind::im2col) {
      return add_node(op, p.dst_type, {k.ne[0] * k.ne[1] * k.ne[2], ow, oh, x.ne[3]}, {kernel, input}, p);
    }
    return add_node(op, DType::F32, {ow, oh, k.ne[3], x.ne[3]}, {kernel, input}, p);
  }
  if (k.ne[1] != x.ne[1] || k.ne[3] != 1 || x.ne[3] != 1) return fail(op, "1-D needs kernel [K, IC, OC] and input [L, IC, N]: " + shapes);
  const int64_t ol = conv_out(x.ne[0], k.ne[0], p.s0, p.p0, p.d0);
  if (ol < 1) return fail(op, "kernel larger than padded input: " + shapes);
  if (op == OpKind::im2col) return add_node(op, p.dst_type, {k.ne[0] * k.ne[1], ol, x.ne[2], 1}, {kernel, input}, p);
  return add_node(op, DType::F32, {ol, k.ne[2], x.ne[2], 1}, {kernel, input}, p);
}

NodeId Graph::im2col(NodeId kernel, NodeId input, const ConvParams& p) { return conv(OpKind::im2col, kernel, input, p); }
NodeId Graph::conv2d(NodeId kernel, NodeId input, const ConvParams& p) {
  ConvParams q = p;
  q.is_2d = true;
  return conv(OpKind::conv2d, kernel, input, q);
}
NodeId Graph::conv1d(NodeId kernel, NodeId input, const ConvParams& p) {
  ConvParams q = p;
  q.is_2d = false;
  return conv(OpKind::conv1d, kernel, input, q);
}

// ---- speech synthesis (VITS) -------------------------------------------------------------

NodeId Graph::relu(NodeId x) { return unary(OpKind::relu, x); }
NodeId Graph::tanh(NodeId x) { return unary(OpKind::tanh, x); }
NodeId Graph::leaky_relu(NodeId x, float slope) { return unary(OpKind::leaky_relu, x, SlopeParams{slope}); }
NodeId Graph::flip(NodeId x) { return unary(OpKind::flip, x); }

namespace {
bool conv_rows_params_ok(const Conv1dRowsParams& p) {
  return p.k >= 1 && p.stride >= 1 && p.pad >= 0 && p.dilation >= 1 && p.k <= 4096 && p.dilation <= 4096 &&
         p.pad <= 65536 && p.stride <= 4096 && std::isfinite(p.slope);
}
}  // namespace

NodeId Graph::unfold1d(NodeId x, const Conv1dRowsParams& p) {
  if (!check_ids(OpKind::unfold1d, {x})) return kInvalidNode;
  const Tensor& s = nodes_[(size_t)x].t;
  if (s.type != DType::F32 || s.ne[2] != 1 || s.ne[3] != 1) return fail(OpKind::unfold1d, "x must be f32 [C, T], got " + shape_str(s));
  if (!conv_rows_params_ok(p)) return fail(OpKind::unfold1d, "k, stride, dilation must be >= 1 and pad >= 0");
  const int64_t t_out = conv_out(s.ne[1], p.k, p.stride, p.pad, p.dilation);
  if (t_out < 1) return fail(OpKind::unfold1d, "kernel longer than the padded input " + shape_str(s));
  return add_node(OpKind::unfold1d, DType::F32, {s.ne[0] * p.k, t_out, 1, 1}, {x}, p);
}

NodeId Graph::conv1d_rows(NodeId weight, NodeId x, NodeId bias, const Conv1dRowsParams& params, NodeId residual) {
  Conv1dRowsParams p = params;
  p.residual = residual != kInvalidNode;
  if (!check_ids(OpKind::conv1d_rows, {weight, x})) return kInvalidNode;
  const Tensor& w = nodes_[(size_t)weight].t;
  const Tensor& s = nodes_[(size_t)x].t;
  if (s.type != DType::F32 || s.ne[2] != 1 || s.ne[3] != 1) {
    return fail(OpKind::conv1d_rows, "x must be f32 [C, T], got " + shape_str(s));
  }
  if (!conv_rows_params_ok(p)) return fail(OpKind::conv1d_rows, "k, stride, dilation must be >= 1 and pad >= 0");
  if (w.type != DType::F32 || w.ne[0] != s.ne[0] * p.k || w.ne[2] != 1 || w.ne[3] != 1) {
    return fail(OpKind::conv1d_rows, "weight must be f32 [C*k, OC] for x " + shape_str(s) + ", got " + shape_str(w));
  }
  if (bias != kInvalidNode) {
    if (!check_ids(OpKind::conv1d_rows, {bias})) return kInvalidNode;
    const Tensor& b = nodes_[(size_t)bias].t;
    if (b.type != DType::F32 || b.n_elements() != w.ne[1] || b.ne[0] != w.ne[1]) {
      return fail(OpKind::conv1d_rows, "bias must be f32 [" + std::to_string(w.ne[1]) + "], got " + shape_str(b));
    }
  }
  const int64_t t_out = conv_out(s.ne[1], p.k, p.stride, p.pad, p.dilation);
  if (t_out < 1) return fail(OpKind::conv1d_rows, "kernel longer than the padded input " + shape_str(s));
  if (p.residual) {
    if (!check_ids(OpKind::conv1d_rows, {residual})) return kInvalidNode;
    const Tensor& r = nodes_[(size_t)residual].t;
    if (r.type != DType::F32 || r.ne != std::array<int64_t, 4>{w.ne[1], t_out, 1, 1}) {
      return fail(OpKind::conv1d_rows, "residual must be f32 [" + std::to_string(w.ne[1]) + ", " +
                                           std::to_string(t_out) + "], got " + shape_str(r));
    }
  }
  return add_node(OpKind::conv1d_rows, DType::F32, {w.ne[1], t_out, 1, 1}, {weight, x, bias, residual}, p);
}

NodeId Graph::conv1d_dw(NodeId kernel, NodeId x, const Conv1dRowsParams& p) {
  if (!check_ids(OpKind::conv1d_dw, {kernel, x})) return kInvalidNode;
  const Tensor& w = nodes_[(size_t)kernel].t;
  const Tensor& s = nodes_[(size_t)x].t;
  if (s.type != DType::F32 || w.type != DType::F32 || s.ne[2] != 1 || s.ne[3] != 1 || w.ne[1] != 1 ||
      w.ne[2] != s.ne[0] || w.ne[3] != 1 || w.ne[0] != p.k) {
    return fail(OpKind::conv1d_dw, "needs f32 kernel [k, 1, C] and x [C, T], got " + shape_str(w) + ", " + shape_str(s));
  }
  if (!conv_rows_params_ok(p)) return fail(OpKind::conv1d_dw, "k, stride, dilation must be >= 1 and pad >= 0");
  const int64_t t_out = conv_out(s.ne[1], p.k, p.stride, p.pad, p.dilation);
  if (t_out < 1) return fail(OpKind::conv1d_dw, "kernel longer than the padded input " + shape_str(s));
  return add_node(OpKind::conv1d_dw, DType::F32, {s.ne[0], t_out, 1, 1}, {kernel, x}, p);
}

NodeId Graph::col2im1d(NodeId cols, int64_t oc, const Conv1dRowsParams& p) {
  if (!check_ids(OpKind::col2im1d, {cols})) return kInvalidNode;
  const Tensor& s = nodes_[(size_t)cols].t;
  if (s.type != DType::F32 || s.ne[2] != 1 || s.ne[3] != 1 || oc < 1 || s.ne[0] != oc * p.k) {
    return fail(OpKind::col2im1d, "cols must be f32 [oc*k, T] with oc = " + std::to_string(oc) + ", k = " +
                                      std::to_string(p.k) + ", got " + shape_str(s));
  }
  if (!conv_rows_params_ok(p) || p.dilation != 1) return fail(OpKind::col2im1d, "k, stride must be >= 1, pad >= 0, dilation 1");
  const int64_t t_out = (s.ne[1] - 1) * p.stride - 2 * (int64_t)p.pad + p.k;
  if (t_out < 1) return fail(OpKind::col2im1d, "padding removes every output sample of " + shape_str(s));
  return add_node(OpKind::col2im1d, DType::F32, {oc, t_out, 1, 1}, {cols}, p);
}

NodeId Graph::rel_attention(NodeId q, NodeId k, NodeId v, NodeId emb, const RelAttentionParams& p) {
  if (!check_ids(OpKind::rel_attention, {q, k, v, emb})) return kInvalidNode;
  const Tensor& tq = nodes_[(size_t)q].t;
  const Tensor& tk = nodes_[(size_t)k].t;
  const Tensor& tv = nodes_[(size_t)v].t;
  const Tensor& te = nodes_[(size_t)emb].t;
  const std::string shapes = "q " + shape_str(tq) + ", k " + shape_str(tk) + ", v " + shape_str(tv) + ", emb " + shape_str(te);
  if (p.n_heads < 1 || p.window < 0 || p.window > 4096 || tq.ne[0] % p.n_heads != 0) {
    return fail(OpKind::rel_attention, "n_heads must divide the channels and window be >= 0: " + shapes);
  }
  const int64_t d = tq.ne[0] / p.n_heads;
  for (const Tensor* t : {&tq, &tk, &tv, &te}) {
    if (t->type != DType::F32) return fail(OpKind::rel_attention, "needs f32 tensors: " + shapes);
  }
  if (tq.ne[2] != 1 || tq.ne[3] != 1 || tk.ne != tq.ne || tv.ne != tq.ne || te.ne[0] != d ||
      te.ne[1] != 2 * (int64_t)p.window + 1 || te.ne[2] != 2 || te.ne[3] != 1) {
    return fail(OpKind::rel_attention, "q, k, v must be [C, T] and emb [C/n_heads, 2w+1, 2]: " + shapes);
  }
  return add_node(OpKind::rel_attention, DType::F32, tq.ne, {q, k, v, emb}, p);
}

NodeId Graph::gate_tanh_sigmoid(NodeId x) {
  if (!check_ids(OpKind::gate_tanh_sigmoid, {x})) return kInvalidNode;
  const Tensor& s = nodes_[(size_t)x].t;
  if (s.type != DType::F32 || s.ne[0] % 2 != 0 || s.ne[2] != 1 || s.ne[3] != 1) {
    return fail(OpKind::gate_tanh_sigmoid, "x must be f32 [2H, T], got " + shape_str(s));
  }
  return add_node(OpKind::gate_tanh_sigmoid, DType::F32, {s.ne[0] / 2, s.ne[1], 1, 1}, {x});
}

NodeId Graph::spline_coupling(NodeId z, NodeId h, const SplineParams& p) {
  if (!check_ids(OpKind::spline_coupling, {z, h})) return kInvalidNode;
  const Tensor& tz = nodes_[(size_t)z].t;
  const Tensor& th = nodes_[(size_t)h].t;
  if (p.n_bins < 1 || p.n_bins > 1024 || !(p.tail_bound > 0.0f) || !(p.scale > 0.0f)) {
    return fail(OpKind::spline_coupling, "needs n_bins in [1, 1024], tail_bound > 0 and scale > 0");
  }
  if (tz.type != DType::F32 || th.type != DType::F32 || tz.ne[0] != 2 || tz.ne[2] != 1 || tz.ne[3] != 1 ||
      th.ne[0] != 3 * (int64_t)p.n_bins - 1 || th.ne[1] != tz.ne[1] || th.ne[2] != 1 || th.ne[3] != 1) {
    return fail(OpKind::spline_coupling, "needs z f32 [2, T] and h [3*bins-1, T], got " + shape_str(tz) + ", " + shape_str(th));
  }
  return add_node(OpKind::spline_coupling, DType::F32, tz.ne, {z, h}, p);
}

}  // namespace nm
