// Graph: a small op graph built once per shape and re-run. Each node is a Tensor
// descriptor (dtype, ne, nb; data filled later by bind()) + op kind + plain-data params
// + input node ids. Nodes are appended in build order and inputs always come first, so
// node id order IS the topological (execution) order.
//
// Builder error policy (ggml-like, so model code reads straight): every builder call
// returns a NodeId; on a bad shape/dtype it returns kInvalidNode and records the first
// error (message names the op and the shapes). Calls given kInvalidNode return
// kInvalidNode without overwriting it. Check graph.status() once after building.
// Shapes follow ggml: ne[0] is the innermost (contiguous) dimension.
// Thread-safety: build on one thread; a finished graph is read-only except bind().
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"

namespace nm {

using NodeId = int32_t;
constexpr NodeId kInvalidNode = -1;

enum class OpKind : uint8_t {
  // leaves
  input,     // caller writes it before each run; lives in the arena
  weight,    // external memory (e.g. an mmapped GGUF tensor); never in the arena
  // views: no copy, alias their source's memory
  output,    // marks a result: alias of its source, kept alive to the end of the graph
  reshape, view, permute, transpose,
  // data movement
  cpy,       // copies src into dst's memory (e.g. a KV-cache slot); result aliases dst
  cont,      // contiguous copy (optionally converting dtype)
  get_rows, concat,
  // compute
  matmul, rms_norm, layer_norm, rope, softmax, attention,
  gelu, gelu_erf, gelu_quick, silu, swiglu, add, mul, scale,
  im2col, conv2d, conv1d,
  // speech synthesis (VITS): activations laid out as rows of channels, one row per frame
  relu, tanh, leaky_relu, flip, unfold1d, conv1d_dw, col2im1d, rel_attention,
  gate_tanh_sigmoid, spline_coupling, conv1d_rows,
  count_,
};

const char* op_name(OpKind op);
// True for kinds whose result aliases another node's memory (no storage of their own).
bool op_is_view(OpKind op);

// ---- op parameters: plain data -------------------------------------------------------
struct NormParams { float eps = 1e-5f; };
enum class RopeMode : int32_t { normal = 0, neox = 2 };  // ggml's mode values
struct RopeParams {
  int32_t n_dims = 0;  // rotated dims (<= ne0, even); 0 = all of ne0
  RopeMode mode = RopeMode::normal;
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;
};
struct SoftmaxParams { float scale = 1.0f; };  // softmax(x*scale + mask)
struct AttentionParams { float scale = 1.0f; };
struct ScaleParams { float s = 1.0f; };
struct ConcatParams { int32_t dim = 0; };
struct ConvParams {  // 1-D uses index 0 only
  int32_t s0 = 1, s1 = 1, p0 = 0, p1 = 0, d0 = 1, d1 = 1;
  bool is_2d = true;
  DType dst_type = DType::F32;  // im2col output type
};
struct ViewParams { size_t offset = 0; };          // byte offset into the source
struct PermuteParams { std::array<int32_t, 4> axes{0, 1, 2, 3}; };  // src dim i -> axes[i]
struct SlopeParams { float slope = 0.01f; };     // leaky_relu: x < 0 -> slope * x
// 1-D convolution over rows of channels (unfold1d, conv1d_dw, col2im1d): kernel taps k,
// stride, zero padding on each side, dilation; unfold1d also applies a leaky ReLU of this
// slope to x on the way (1: none; HiFi-GAN puts one before every convolution).
struct Conv1dRowsParams {
  int32_t k = 1, stride = 1, pad = 0, dilation = 1;
  float slope = 1.0f;
  bool residual = false;  // conv1d_rows only: its last source is added to the result
};
struct RelAttentionParams { int32_t n_heads = 1, window = 0; };
// Inverse rational-quadratic spline (Durkan et al. 2019): bins, tail bound B (identity
// outside [-B, B]), and the factor applied to the unnormalised widths and heights.
struct SplineParams { int32_t n_bins = 10; float tail_bound = 5.0f, scale = 1.0f; };

using OpParams = std::variant<std::monostate, NormParams, RopeParams, SoftmaxParams,
                              AttentionParams, ScaleParams, ConcatParams, ConvParams,
                              ViewParams, PermuteParams, SlopeParams, Conv1dRowsParams,
                              RelAttentionParams, SplineParams>;

constexpr int kMaxInputs = 4;

struct Node {
  OpKind op = OpKind::input;
  Tensor t;                       // descriptor; t.data set by bind() (weights: at build)
  std::array<NodeId, kMaxInputs> src{kInvalidNode, kInvalidNode, kInvalidNode, kInvalidNode};
  int n_src = 0;
  OpParams params;
  std::string name;
  // Views: the node that owns the memory (never itself a view) and the byte offset of
  // this view's element 0 inside it. Non-views: storage == own id, offset 0.
  NodeId storage = kInvalidNode;
  size_t storage_offset = 0;
  bool is_output = false;         // kept alive (not reused) until the end of the graph
  // Storage is caller memory (set_external): not in the arena; t.data is the caller's and
  // may be re-pointed with the device's rebind(). Weights are always external.
  bool external = false;
};

// Host memory that external nodes may be re-pointed into after a device prepared the
// graph (e.g. the token ring's slots): a device that must import memory at prepare
// (OpenCL with CL_MEM_USE_HOST_PTR) imports each region whole.
struct MemoryRegion {
  void* base = nullptr;
  size_t bytes = 0;
};

class Graph {
 public:
  // ---- leaves
  NodeId input(DType type, std::array<int64_t, 4> ne, std::string name = "");
  // `w` must have data; the graph keeps w.owner alive.
  NodeId weight(const Tensor& w, std::string name = "");
  NodeId output(NodeId x, std::string name = "");

  // ---- views (no copy)
  NodeId reshape(NodeId x, std::array<int64_t, 4> ne);      // x contiguous, same count
  // Arbitrary strided window of x: ne/nb of the result, byte offset from x's element 0.
  // Must stay inside x's bytes (x contiguous).
  NodeId view(NodeId x, std::array<int64_t, 4> ne, std::array<size_t, 4> nb, size_t offset);
  NodeId permute(NodeId x, std::array<int32_t, 4> axes);    // ggml semantics
  NodeId transpose(NodeId x);                               // swaps dims 0 and 1

  // ---- data movement
  NodeId cpy(NodeId src, NodeId dst);   // same element count; dst must be input/weight/view memory
  NodeId cont(NodeId x, DType type = DType::F32);  // contiguous copy; F32/F16/BF16, or same type
  NodeId get_rows(NodeId table, NodeId ids);  // table [n_embd, n_rows], ids I32 [n] -> F32 [n_embd, n]
  NodeId concat(NodeId a, NodeId b, int dim);

  // ---- compute (F32 activations unless stated)
  // a: [K, N, a2, a3] (any dtype, e.g. quantised weight), b: F32 [K, M, b2, b3],
  // b2 % a2 == 0 and b3 % a3 == 0 (a broadcast) -> F32 [N, M, b2, b3]  (= b · aᵀ)
  NodeId matmul(NodeId a, NodeId b);
  NodeId rms_norm(NodeId x, float eps, NodeId weight = kInvalidNode);  // weight F32 [ne0]
  NodeId layer_norm(NodeId x, float eps, NodeId weight = kInvalidNode, NodeId bias = kInvalidNode);
  // x F32 [head_dim, n_head, n_tokens], pos I32 [n_tokens]; freq_factors optional F32
  // [n_dims/2] divides each pair's frequency (LLaMA 3.1 long-context scaling).
  NodeId rope(NodeId x, NodeId pos, const RopeParams& p, NodeId freq_factors = kInvalidNode);
  // mask optional F32/F16 [ne0, >= ne1] broadcast over dims 2, 3
  NodeId softmax(NodeId x, float scale = 1.0f, NodeId mask = kInvalidNode);
  // q [D, n_tokens, n_head, B], k [D, n_kv, n_head_kv, B], v [Dv, n_kv, n_head_kv, B]
  // (k, v F32, F16 or Q8_0), n_head % n_head_kv == 0, mask optional [n_kv, >= n_tokens]
  // -> F32 [Dv, n_head, n_tokens, B]
  NodeId attention(NodeId q, NodeId k, NodeId v, float scale, NodeId mask = kInvalidNode);
  NodeId gelu(NodeId x);
  NodeId gelu_erf(NodeId x);
  NodeId gelu_quick(NodeId x);
  NodeId silu(NodeId x);
  NodeId swiglu(NodeId gate, NodeId up);  // silu(gate) * up, same shapes
  NodeId add(NodeId a, NodeId b);         // b broadcast into a (a.ne[i] % b.ne[i] == 0)
  NodeId mul(NodeId a, NodeId b);
  NodeId scale(NodeId x, float s);
  // kernel [KW, KH, IC, OC] (2-D) or [KW, IC, OC] (1-D), input [IW, IH, IC, N] or [IW, IC, N]
  // -> [IC*KH*KW, OW, OH, N] (2-D) or [IC*KW, OW, N] (1-D), type p.dst_type
  NodeId im2col(NodeId kernel, NodeId input, const ConvParams& p);
  NodeId conv2d(NodeId kernel, NodeId input, const ConvParams& p);  // -> F32 [OW, OH, OC, N]
  NodeId conv1d(NodeId kernel, NodeId input, const ConvParams& p);  // -> F32 [OL, OC, N]

  // ---- speech synthesis (VITS). Activations are rows of C channels, one row per frame:
  // ne [C, T] (PyTorch's [C, T] transposed), so 1x1 convolutions are matmuls and k-tap ones
  // matmuls over unfold1d's columns. Kernels are PyTorch's layouts as GGUF stores them.
  NodeId relu(NodeId x);
  NodeId tanh(NodeId x);
  NodeId leaky_relu(NodeId x, float slope);
  NodeId flip(NodeId x);  // reverses the order of the elements of every row (channels)
  // x [C, T] -> [C*k, T_out], row t = (x[t*s - p + j*d] for j < k), element j*C + c, zeros
  // outside x (tap-major): times a conv weight stored [C, k, OC] (tools/vits_gguf.py) viewed
  // [C*k, OC], a convolution. p.slope != 1 applies leaky_relu(x, slope) first.
  NodeId unfold1d(NodeId x, const Conv1dRowsParams& p);
  // The same convolution in one op: weight [C*k, OC] (F32, contiguous: the conv weight
  // stored [C, k, OC] viewed so), x [C, T], bias [OC] (F32) or kInvalidNode -> [OC, T_out],
  // equal to matmul(weight, unfold1d(x, p)) + bias. The CPU reads x in place for every tap
  // (kernels/conv1d_gemm.h) instead of writing k copies of it.
  // A residual [OC, T_out] (F32) is added too (p.residual is set from it).
  NodeId conv1d_rows(NodeId weight, NodeId x, NodeId bias, const Conv1dRowsParams& p,
                     NodeId residual = kInvalidNode);
  // Depthwise convolution: x [C, T], kernel [k, 1, C] (F32) -> [C, T_out] (no bias).
  NodeId conv1d_dw(NodeId kernel, NodeId x, const Conv1dRowsParams& p);
  // Overlap-add of a transposed convolution: cols [oc*k, T] (element o*k + j of row t is
  // x[t] . w[:, o, j]) -> [oc, (T - 1)*s - 2p + k], y[t*s + j - p][o] += cols[t][o*k + j].
  NodeId col2im1d(NodeId cols, int64_t oc, const Conv1dRowsParams& p);
  // Multi-head attention with relative positions (Shaw et al. 2018) as VITS's encoder has it:
  // q, k, v [C, T] (head h: channels [h*d, (h+1)*d)), emb [d, 2w+1, 2] shared by the heads:
  // emb_k = emb[:, :, 0], emb_v = emb[:, :, 1] (concat the model's two tables along dim 2).
  // score(i, j) = (q_i.k_j + q_i.emb_k[j-i+w]) / sqrt(d), out_i = sum_j p_ij (v_j + emb_v[j-i+w])
  // (relative terms only where |j - i| <= w) -> [C, T].
  NodeId rel_attention(NodeId q, NodeId k, NodeId v, NodeId emb, const RelAttentionParams& p);
  // WaveNet gate: x [2H, T] -> tanh(x[:H]) * sigmoid(x[H:]), [H, T].
  NodeId gate_tanh_sigmoid(NodeId x);
  // VITS's ConvFlow step in reverse: z [2, T], h [3*bins - 1, T] (widths, heights, interior
  // derivatives) -> [2, T]: channel 0 kept, channel 1 through the inverse spline.
  NodeId spline_coupling(NodeId z, NodeId h, const SplineParams& p);

  // ---- caller memory
  // Makes the storage of `id` (an input, or an op result that is not a view) caller
  // memory at `data` (its bytes, contiguous): the producer's graph then writes its result
  // straight into, or the consumer's graph reads its input straight from, e.g. a token-ring
  // slot. Error for views, weights and unknown ids.
  Status set_external(NodeId id, void* data);
  void add_region(MemoryRegion region) { regions_.push_back(region); }
  const std::vector<MemoryRegion>& regions() const { return regions_; }

  // ---- inspection
  const Status& status() const { return status_; }
  int size() const { return (int)nodes_.size(); }
  const Node& node(NodeId id) const { return nodes_[(size_t)id]; }
  Node& node(NodeId id) { return nodes_[(size_t)id]; }
  const std::vector<Node>& nodes() const { return nodes_; }
  std::vector<Node>& nodes() { return nodes_; }
  // Outputs in the order output() was called.
  const std::vector<NodeId>& outputs() const { return outputs_; }
  // Human-readable shape "f32[4096, 7, 1, 1]" for messages.
  static std::string shape_str(const Tensor& t);

 private:
  // Returns false (recording an error naming `op`) if any id is invalid or out of range.
  bool check_ids(OpKind op, std::initializer_list<NodeId> ids);
  NodeId fail(OpKind op, std::string message);
  NodeId add_node(OpKind op, DType type, std::array<int64_t, 4> ne,
                  std::initializer_list<NodeId> srcs, OpParams params = {});
  NodeId add_view(OpKind op, NodeId src, const Tensor& desc, size_t offset, OpParams params = {});
  NodeId unary(OpKind op, NodeId x, OpParams params = {});
  NodeId binary_broadcast(OpKind op, NodeId a, NodeId b);
  NodeId norm(OpKind op, NodeId x, float eps, NodeId weight, NodeId bias);
  NodeId conv(OpKind op, NodeId kernel, NodeId input, const ConvParams& p);

  std::vector<Node> nodes_;
  std::vector<NodeId> outputs_;
  std::vector<MemoryRegion> regions_;
  Status status_;
};

}  // namespace nm
