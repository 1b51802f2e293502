// The OpenCL op table: capability checks and launch planning for each op kind.
#include "backend/opencl/opencl_ops.h"

#include <cstring>
#include <string>

#include "backend/opencl/opencl_device.h"

namespace nm {
namespace {

bool contiguous(const Tensor& t) { return t.is_contiguous(); }
bool is_f32(const Tensor& t) { return t.type == DType::F32; }
bool f32_or_f16(const Tensor& t) { return t.type == DType::F32 || t.type == DType::F16; }
const Tensor& src(const Graph& g, const Node& n, int i) { return g.node(n.src[(size_t)i]).t; }
bool has_src(const Node& n, int i) { return n.src[(size_t)i] != kInvalidNode; }

// Rows of `t` are contiguous in dim 0 (nb[0] is the element/block size).
bool rows_dense(const Tensor& t) { return t.nb[0] == type_traits(t.type)->type_size; }

constexpr int kMaxAttentionDim = 512;  // NM_ATT_MAXD in attention.cl
// matmul with at least this many rows of b runs the tiled kernel (matmul_tiled.cl), on
// devices with the local memory its f32 tiles take (32 x 68 + 64 x 36 floats).
constexpr int64_t kTiledMinRows = 8;
constexpr size_t kTiledLocalBytes = (32 * 68 + 64 * 36) * 4;

// A K or V operand of attention: f32/f16 with any strides, or q8_0 rows (a quantised KV cache).
bool kv_ok(const Tensor& t) {
  return f32_or_f16(t) || (t.type == DType::Q8_0 && rows_dense(t) && t.ne[0] % block_size(t.type) == 0);
}
// load_kv's type code in attention.cl.
int kv_code(const Tensor& t) { return t.type == DType::Q8_0 ? 2 : t.type == DType::F16 ? 1 : 0; }

// cpy f32 -> q8_0 (cpy_f32_q8_0): same shape, whole blocks, dense destination rows.
bool quantizing_cpy(const Tensor& s, const Tensor& d) {
  return s.type == DType::F32 && d.type == DType::Q8_0 && s.ne == d.ne && rows_dense(d) && d.ne[0] % block_size(d.type) == 0;
}

class LaunchBuilder {
 public:
  LaunchBuilder(ClLaunch* l, const ClResolver& r) : l_(l), r_(r) {}
  LaunchBuilder& mem(const Tensor& t) { return mem_ptr(t.data); }
  LaunchBuilder& mem_ptr(const void* p) {
    auto [m, off] = r_(p);
    raw(&m, sizeof m);
    return u64(off);
  }
  LaunchBuilder& i32(int64_t v) { const int32_t x = (int32_t)v; return raw(&x, 4); }
  LaunchBuilder& i64(int64_t v) { return raw(&v, 8); }
  LaunchBuilder& u64(uint64_t v) { return raw(&v, 8); }
  LaunchBuilder& f32(float v) { return raw(&v, 4); }

 private:
  LaunchBuilder& raw(const void* p, size_t n) {
    ClArg a;
    a.size = n;
    std::memcpy(a.bytes.data(), p, n);
    l_->args.push_back(a);
    return *this;
  }
  ClLaunch* l_;
  const ClResolver& r_;
};

const char* dtype_suffix(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::F16: return "f16";
    case DType::Q8_0: return "q8_0";
    case DType::Q4_0: return "q4_0";
    case DType::Q4_K: return "q4_k";
    default: return nullptr;
  }
}

}  // namespace

bool opencl_supports(const OpenClDevice& device, const Graph& g, const Node& n) {
  const int64_t count = n.t.n_elements();
  switch (n.op) {
    case OpKind::input: case OpKind::weight: case OpKind::output: case OpKind::reshape:
    case OpKind::view: case OpKind::permute: case OpKind::transpose:
      return true;
    case OpKind::cpy: case OpKind::cont:
      return ((f32_or_f16(src(g, n, 0)) && f32_or_f16(n.t)) || quantizing_cpy(src(g, n, 0), n.t)) &&
             n.t.n_elements() < INT32_MAX;
    case OpKind::get_rows: {
      const Tensor& t = src(g, n, 0);
      return (t.type == DType::F32 || t.type == DType::F16 || t.type == DType::Q8_0 || t.type == DType::Q4_0) &&
             rows_dense(t) && contiguous(src(g, n, 1));
    }
    case OpKind::matmul: {
      const Tensor& a = src(g, n, 0);
      const Tensor& b = src(g, n, 1);
      return dtype_suffix(a.type) != nullptr && rows_dense(a) && is_f32(b) && b.nb[0] == 4 &&
             a.ne[0] % block_size(a.type) == 0;
    }
    case OpKind::rms_norm: case OpKind::layer_norm: case OpKind::softmax:
      for (int i = 0; i < n.n_src; ++i) {
        if (has_src(n, i) && !contiguous(src(g, n, i))) return false;
      }
      return true;  // dtypes checked by the graph builder (x f32, weight f32, mask f32/f16)
    case OpKind::rope:
      return contiguous(src(g, n, 0)) && src(g, n, 0).ne[3] == 1 && contiguous(src(g, n, 1));
    case OpKind::attention: {
      const Tensor& q = src(g, n, 0);
      const Tensor& k = src(g, n, 1);
      const Tensor& v = src(g, n, 2);
      return q.nb[0] == 4 && kv_ok(k) && kv_ok(v) && q.ne[0] <= kMaxAttentionDim &&
             v.ne[0] <= kMaxAttentionDim && (!has_src(n, 3) || contiguous(src(g, n, 3)));
    }
    case OpKind::add: case OpKind::mul:
      return count < INT32_MAX && is_f32(src(g, n, 0)) && is_f32(src(g, n, 1)) && contiguous(src(g, n, 0)) && contiguous(src(g, n, 1));
    case OpKind::scale: case OpKind::silu: case OpKind::gelu: case OpKind::gelu_erf: case OpKind::gelu_quick:
      return is_f32(src(g, n, 0)) && contiguous(src(g, n, 0));
    case OpKind::swiglu:
      return is_f32(src(g, n, 0)) && is_f32(src(g, n, 1)) && contiguous(src(g, n, 0)) && contiguous(src(g, n, 1));
    case OpKind::concat: {
      const Tensor& a = src(g, n, 0);
      return (a.type == DType::F32 || a.type == DType::F16) && contiguous(a) && contiguous(src(g, n, 1));
    }
    case OpKind::im2col: case OpKind::conv2d: case OpKind::conv1d: {
      const Tensor& k = src(g, n, 0);
      const bool dst_ok = n.op != OpKind::im2col || n.t.type == DType::F32 || n.t.type == DType::F16;
      return f32_or_f16(k) && contiguous(k) && contiguous(src(g, n, 1)) && dst_ok && count < INT32_MAX;
    }
    default:
      return false;
  }
}

Status opencl_plan_node(OpenClDevice& dev, const Graph& g, NodeId id, const ClResolver& resolve,
                        std::vector<ClLaunch>* launches) {
  const Node& n = g.node(id);
  const char* op = op_name(n.op);
  ClLaunch l;
  l.node = id;
  LaunchBuilder b(&l, resolve);
  const size_t wg = (size_t)dev.work_group();
  auto get = [&](const char* program, const std::string& kname) -> Status {
    NM_ASSIGN_OR_RETURN(l.kernel, dev.kernel(program, kname.c_str(), op));
    return Status::ok_status();
  };
  auto rows_launch = [&](int64_t rows) {  // one work-group per row
    l.dims = 1;
    l.global = {(size_t)rows * wg, 1, 1};
    l.local = {wg, 1, 1};
    l.use_local = true;
  };
  const int64_t count = n.t.n_elements();
  switch (n.op) {
    case OpKind::input: case OpKind::weight: case OpKind::output: case OpKind::reshape:
    case OpKind::view: case OpKind::permute: case OpKind::transpose:
      return Status::ok_status();
    case OpKind::add: case OpKind::mul: {
      const Tensor& x = src(g, n, 0);
      const Tensor& y = src(g, n, 1);
      NM_RETURN_IF_ERROR(get("elementwise", std::string(op) + "_f32"));
      b.mem(x).mem(y).mem(n.t).i64(count).i32(x.ne[0]).i32(x.ne[1]).i32(x.ne[2]);
      b.i32(y.ne[0]).i32(y.ne[1]).i32(y.ne[2]).i32(y.ne[3]);
      l.global = {(size_t)count, 1, 1};
      break;
    }
    case OpKind::swiglu:
      NM_RETURN_IF_ERROR(get("elementwise", "swiglu_f32"));
      b.mem(src(g, n, 0)).mem(src(g, n, 1)).mem(n.t).i64(count);
      l.global = {(size_t)count, 1, 1};
      break;
    case OpKind::scale:
      NM_RETURN_IF_ERROR(get("elementwise", "scale_f32"));
      b.mem(src(g, n, 0)).mem(n.t).i64(count).f32(std::get<ScaleParams>(n.params).s);
      l.global = {(size_t)count, 1, 1};
      break;
    case OpKind::silu: case OpKind::gelu: case OpKind::gelu_erf: case OpKind::gelu_quick:
      NM_RETURN_IF_ERROR(get("elementwise", std::string(op) + "_f32"));
      b.mem(src(g, n, 0)).mem(n.t).i64(count);
      l.global = {(size_t)count, 1, 1};
      break;
    case OpKind::rms_norm: case OpKind::layer_norm: {
      const Tensor& x = src(g, n, 0);
      NM_RETURN_IF_ERROR(get("norm", std::string(op) + "_f32"));
      b.mem(x);
      for (int i : {1, 2}) {
        if (n.op == OpKind::rms_norm && i == 2) break;
        if (has_src(n, i)) b.mem(src(g, n, i)).i32(1);
        else b.mem(x).i32(0);  // any valid buffer; unused
      }
      b.mem(n.t).i32(x.ne[0]).f32(std::get<NormParams>(n.params).eps);
      rows_launch(x.n_rows());
      break;
    }
    case OpKind::softmax: {
      const Tensor& x = src(g, n, 0);
      NM_RETURN_IF_ERROR(get("norm", "softmax_f32"));
      b.mem(x);
      if (has_src(n, 1)) b.mem(src(g, n, 1)).i32(1).i32(src(g, n, 1).type == DType::F16);
      else b.mem(x).i32(0).i32(0);
      b.mem(n.t).i32(x.ne[0]).i32(x.ne[1]).f32(std::get<SoftmaxParams>(n.params).scale);
      rows_launch(x.n_rows());
      break;
    }
    case OpKind::rope: {
      const Tensor& x = src(g, n, 0);
      const RopeParams& p = std::get<RopeParams>(n.params);
      NM_RETURN_IF_ERROR(get("rope", "rope_f32"));
      b.mem(x).mem(src(g, n, 1)).mem(n.t).i32(x.ne[0]).i32(x.ne[1]).i32(x.ne[2]);
      b.i32(p.n_dims == 0 ? x.ne[0] : p.n_dims).i32(p.mode == RopeMode::neox).f32(p.freq_base).f32(p.freq_scale);
      l.dims = 3;
      l.global = {(size_t)x.ne[0] / 2, (size_t)x.ne[1], (size_t)x.ne[2]};
      break;
    }
    case OpKind::get_rows: {
      const Tensor& t = src(g, n, 0);
      NM_RETURN_IF_ERROR(get("get_rows", std::string("get_rows_") + dtype_suffix(t.type)));
      b.mem(t).mem(src(g, n, 1)).mem(n.t).i32(t.ne[0]).i32(n.t.ne[1]).u64(t.nb[1]);
      l.dims = 2;
      l.global = {(size_t)t.ne[0], (size_t)n.t.ne[1], 1};
      break;
    }
    case OpKind::cpy: case OpKind::cont: {
      const Tensor& s = src(g, n, 0);
      // cpy writes into its destination's memory; its result aliases it (n.t).
      NM_RETURN_IF_ERROR(get("cpy", std::string("cpy_") + dtype_suffix(s.type) + "_" + dtype_suffix(n.t.type)));
      b.mem(s).mem(n.t);
      for (int i = 0; i < 4; ++i) b.i32(s.ne[(size_t)i]);
      for (int i = 0; i < 4; ++i) b.u64(s.nb[(size_t)i]);
      for (int i = 0; i < 4; ++i) b.i32(n.t.ne[(size_t)i]);
      for (int i = 0; i < 4; ++i) b.u64(n.t.nb[(size_t)i]);
      l.global = {(size_t)(quantizing_cpy(s, n.t) ? count / block_size(n.t.type) : count), 1, 1};
      break;
    }
    case OpKind::matmul: {
      const Tensor& a = src(g, n, 0);
      const Tensor& x = src(g, n, 1);
      // Few rows of b (decode): matmul.cl, a work-group per row of a. Many (prefill, vision
      // encoders): matmul_tiled.cl, 64 x 64 output tiles of 8 x 8 work-items.
      const bool tiled = x.ne[1] >= kTiledMinRows && dev.info().max_work_group >= 64 &&
                         dev.info().local_mem >= kTiledLocalBytes;
      const std::string kname = std::string(tiled ? "matmul_tiled_" : "matmul_") + dtype_suffix(a.type);
      NM_RETURN_IF_ERROR(get(tiled ? "matmul_tiled" : "matmul", kname));
      b.mem(a).mem(x).mem(n.t).i32(a.ne[0]).i32(a.ne[1]).i32(x.ne[1]).i32(x.ne[2]);
      b.u64(a.nb[1]).u64(a.nb[2]).u64(a.nb[3]).u64(x.nb[1]).u64(x.nb[2]).u64(x.nb[3]);
      b.i32(x.ne[2] / a.ne[2]).i32(x.ne[3] / a.ne[3]);
      l.dims = 3;
      l.use_local = true;
      if (tiled) {
        constexpr int64_t kTileN = 64, kTileM = 64;  // NM_TN, NM_TM in matmul_tiled.cl
        l.global = {(size_t)((a.ne[1] + kTileN - 1) / kTileN * 8), (size_t)((x.ne[1] + kTileM - 1) / kTileM * 8),
                    (size_t)(x.ne[2] * x.ne[3])};
        l.local = {8, 8, 1};
        break;
      }
      constexpr int64_t kRowsPerGroup = 4;  // NM_MR in matmul.cl
      l.global = {(size_t)a.ne[1] * wg, (size_t)((x.ne[1] + kRowsPerGroup - 1) / kRowsPerGroup), (size_t)(x.ne[2] * x.ne[3])};
      l.local = {wg, 1, 1};
      break;
    }
    case OpKind::attention: {
      const Tensor& q = src(g, n, 0);
      const Tensor& k = src(g, n, 1);
      const Tensor& v = src(g, n, 2);
      NM_RETURN_IF_ERROR(get("attention", "attention_f32"));
      b.mem(q).mem(k).mem(v);
      if (has_src(n, 3)) b.mem(src(g, n, 3));
      else b.mem(q);
      b.mem(n.t).i32(q.ne[0]).i32(v.ne[0]).i32(q.ne[1]).i32(q.ne[2]).i32(k.ne[1]).i32(k.ne[2]);
      b.i32(kv_code(k)).i32(kv_code(v)).i32(has_src(n, 3));
      b.i32(has_src(n, 3) && src(g, n, 3).type == DType::F16);
      b.u64(q.nb[1]).u64(q.nb[2]).u64(q.nb[3]);
      for (int i = 0; i < 4; ++i) b.u64(k.nb[(size_t)i]);
      for (int i = 0; i < 4; ++i) b.u64(v.nb[(size_t)i]);
      b.f32(std::get<AttentionParams>(n.params).scale);
      l.dims = 3;
      l.global = {(size_t)q.ne[1] * wg, (size_t)q.ne[2], (size_t)q.ne[3]};
      l.local = {wg, 1, 1};
      l.use_local = true;
      break;
    }
    case OpKind::concat: {
      const Tensor& a = src(g, n, 0);
      const int dim = std::get<ConcatParams>(n.params).dim;
      NM_RETURN_IF_ERROR(get("cpy", "concat"));
      b.mem(a).mem(src(g, n, 1)).mem(n.t);
      for (int i = 0; i < 4; ++i) b.i32(n.t.ne[(size_t)i]);
      b.i32(dim).i32(a.ne[(size_t)dim]).i32((int64_t)type_traits(a.type)->type_size);
      l.global = {(size_t)count, 1, 1};
      break;
    }
    case OpKind::im2col: case OpKind::conv2d: case OpKind::conv1d: {
      const Tensor& k = src(g, n, 0);
      const Tensor& x = src(g, n, 1);
      const ConvParams& p = std::get<ConvParams>(n.params);
      const bool is_2d = n.op == OpKind::conv2d || (n.op == OpKind::im2col && p.is_2d);
      // 1-D is 2-D with KH = IH = 1: kernel [KW, IC, OC], input [L, IC, N].
      const int64_t KW = k.ne[0], KH = is_2d ? k.ne[1] : 1, IC = is_2d ? k.ne[2] : k.ne[1], OC = is_2d ? k.ne[3] : k.ne[2];
      const int64_t IW = x.ne[0], IH = is_2d ? x.ne[1] : 1, N = is_2d ? x.ne[3] : x.ne[2];
      const int64_t OW = n.op == OpKind::im2col ? n.t.ne[1] : n.t.ne[0];
      const int64_t OH = is_2d ? (n.op == OpKind::im2col ? n.t.ne[2] : n.t.ne[1]) : 1;
      if (n.op == OpKind::im2col) {
        NM_RETURN_IF_ERROR(get("conv", "im2col"));
        b.mem(x).mem(n.t).i32(n.t.type == DType::F16).i32(N);
      } else {
        NM_RETURN_IF_ERROR(get("conv", "conv2d"));
        b.mem(k).mem(x).mem(n.t).i32(k.type == DType::F16).i32(OC).i32(N);
      }
      b.i32(IW).i32(IH).i32(IC).i32(KW).i32(KH).i32(OW).i32(OH);
      b.i32(p.s0).i32(is_2d ? p.s1 : 1).i32(p.p0).i32(is_2d ? p.p1 : 0).i32(p.d0).i32(is_2d ? p.d1 : 1);
      l.global = {(size_t)count, 1, 1};
      break;
    }
    default:
      return error(ErrorCode::unsupported, std::string(op) + " has no OpenCL kernel");
  }
  if (count == 0) return Status::ok_status();
  launches->push_back(std::move(l));
  return Status::ok_status();
}

}  // namespace nm
