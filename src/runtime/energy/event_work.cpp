// Work of one question from model files (see event_work.h).
#include "runtime/energy/event_work.h"

#include <cstdio>
#include <map>

namespace nm::energy {

namespace {

struct MatrixTotals {
  double elements = 0;   // multiply-adds per token
  double bytes = 0;      // bytes of those matrices
  double all_bytes = 0;  // every tensor (what loading the brick reads)
  bool quantized = false;
  std::string main_type;  // the type holding most matrix bytes ("q4_0")
  int n_matrices = 0;     // tensors of 2+ dimensions (a matmul or a lookup each)
  int n_vectors = 0;      // 1-D tensors (norm weights, biases: an element-wise op each)
};

// Below this many values an element-wise op runs on the calling thread of a CPU cluster
// (CpuExecutor::runs_inline) at a fraction of a pooled op's cost, and is not counted.
constexpr double kInlineValues = 8192;

// Ops one graph run dispatches to the device's workers, over rows x width activations: a
// matmul (or lookup) per matrix and `attention` per layer, and where the activations are
// too big to run inline, an element-wise op per vector plus `fixed` per layer (norms,
// rope, residual adds, activation, KV writes). An estimate from the tensor table, for the
// cost model's per-op term (the profile's op_us).
int graph_ops(const MatrixTotals& m, double layers, double rows, double width, double fixed, double attention = 1) {
  double ops = m.n_matrices + attention * layers;
  if (rows * width > kInlineValues) ops += m.n_vectors + fixed * layers;
  return static_cast<int>(ops);
}

// Pooled ops of one vision layer's attention (vision_graph.cpp): two matmuls per head, and
// where they are too large to run inline, a softmax per head and the concats joining them.
double vision_attention_ops(double heads, double patches, double width) {
  double ops = 2 * heads;
  if (patches * patches > kInlineValues) ops += heads;
  if (patches * width > kInlineValues) ops += heads - 1;
  return ops;
}

// Sums the matrices of `file` whose names start with one of `prefixes` ("" = all).
// `lookup_only` names a tensor that is a table lookup, not a matmul (token embeddings),
// unless the file has no separate output matrix (tied embeddings).
MatrixTotals matrices(const GgufFile& file, const std::string& lookup_only) {
  MatrixTotals t;
  const bool tied = !lookup_only.empty() && !file.find_tensor("output.weight");
  double quant_bytes = 0;
  std::map<DType, double> by_type;
  for (const GgufTensorInfo& ti : file.tensors()) {
    t.all_bytes += static_cast<double>(ti.n_bytes);
    ++(ti.n_dims < 2 ? t.n_vectors : t.n_matrices);
    if (ti.n_dims < 2) continue;
    if (ti.name == lookup_only && !tied) continue;
    t.elements += static_cast<double>(ti.n_elements());
    t.bytes += static_cast<double>(ti.n_bytes);
    by_type[ti.type] += static_cast<double>(ti.n_bytes);
    if (ti.type != DType::F32 && ti.type != DType::F16 && ti.type != DType::BF16) quant_bytes += static_cast<double>(ti.n_bytes);
  }
  t.quantized = quant_bytes * 2 > t.bytes;
  double most = 0;
  for (const auto& [type, bytes] : by_type)
    if (bytes > most) most = bytes, t.main_type = std::string(dtype_name(type));
  return t;
}

Result<int64_t> positive(const GgufFile& f, const std::string& key) {
  NM_ASSIGN_OR_RETURN(int64_t v, f.get_int(key));
  if (v <= 0 || v > (1 << 24)) return error(ErrorCode::invalid_file, f.path() + ": " + key + " = " + std::to_string(v) + " is out of range");
  return v;
}

// The encoder's FFN width (4 x its width where the file does not say).
Result<int64_t> vision_ffn(const GgufFile& f, int64_t width) {
  NM_ASSIGN_OR_RETURN(int64_t v, f.get_int_or("clip.vision.feed_forward_length", 4 * width));
  if (v <= 0 || v > (1 << 24)) return error(ErrorCode::invalid_file, f.path() + ": clip.vision.feed_forward_length is out of range");
  return v;
}

std::string fmt(const char* f, double a, double b = 0, double c = 0, double d = 0) {
  char buf[256];
  std::snprintf(buf, sizeof buf, f, a, b, c, d);
  return buf;
}

// Element-wise ops of a layer beyond its vectors' (see graph_ops). Text: two RMS norms,
// two ropes, two residual adds, the activation, its gate product, the K and V writes.
// Vision: two layer norms, two residual adds, the activation.
constexpr double kTextOpsPerLayer = 10, kVisionOpsPerLayer = 5;

// Values one layer's element-wise ops read and write, per row of width E and FFN width F
// (4 bytes each). Text (text_graph): two RMS norms (2E each), the Q and K ropes (2E each
// at most), two residual adds (3E each), the K and V writes (2E at most), the activation
// and its gate product (5F). Vision (vision_graph.cpp): two layer norms (2E each), the Q,
// K, V and output bias adds (2E each), the three head-split copies and the heads' merge
// (2E each), two residual adds (3E each), the FFN's bias adds and activation (2E + 4F).
// The softmax and the heads' concats belong to the attention, measured with it.
double text_elementwise_per_row(double e, double f) { return 4.0 * (18 * e + 5 * f); }
double vision_elementwise_per_row(double e, double f) { return 4.0 * (28 * e + 4 * f); }

}  // namespace

EventPlacement default_placement(const DeviceProfile& profile) {
  EventPlacement p;
  const ProfileDevice *cpu = nullptr, *gpu = nullptr, *npu = nullptr;
  for (const ProfileDevice& d : profile.devices) {
    if (d.kind == "cpu" && !cpu) cpu = &d;
    if (d.kind == "gpu" && !gpu) gpu = &d;
    if (d.kind == "npu" && !npu) npu = &d;
  }
  p.text_device = cpu ? cpu->name : profile.devices.front().name;
  p.vision_device = npu ? npu->name : gpu ? gpu->name : p.text_device;
  return p;
}

Result<std::vector<BrickWork>> question_work(const GgufFile& llm, const GgufFile* mmproj, const EventShape& shape,
                                             const EventPlacement& place, std::vector<std::string>* notes) {
  if (shape.prompt_tokens < 1 || shape.answer_tokens < 1 || shape.image_tokens < 0)
    return error(ErrorCode::invalid_argument, "a question needs at least one prompt token and one answer token");
  std::vector<BrickWork> out;
  int image_tokens = shape.image_tokens;

  if (mmproj) {
    NM_ASSIGN_OR_RETURN(int64_t image_size, positive(*mmproj, "clip.vision.image_size"));
    NM_ASSIGN_OR_RETURN(int64_t patch, positive(*mmproj, "clip.vision.patch_size"));
    NM_ASSIGN_OR_RETURN(int64_t width, positive(*mmproj, "clip.vision.embedding_length"));
    NM_ASSIGN_OR_RETURN(int64_t layers, positive(*mmproj, "clip.vision.block_count"));
    if (patch > image_size) return error(ErrorCode::invalid_file, mmproj->path() + ": patch size above image size");
    const double patches = static_cast<double>((image_size / patch) * (image_size / patch));
    const MatrixTotals m = matrices(*mmproj, "");
    if (image_tokens == 0) {
      // A pixel-shuffle projector merges scale x scale patches into one token.
      NM_ASSIGN_OR_RETURN(std::string proj, mmproj->get_string_or("clip.projector_type", "mlp"));
      int64_t scale = 1;
      if (proj == "idefics3") {
        NM_ASSIGN_OR_RETURN(scale, mmproj->get_int_or("clip.vision.projector.scale_factor", 2));
      }
      if (scale < 1 || scale > 16) return error(ErrorCode::invalid_file, mmproj->path() + ": projector scale factor out of range");
      image_tokens = static_cast<int>(patches / static_cast<double>(scale * scale));
    }
    BrickWork v;
    v.name = "vision";
    v.device = place.vision_device;
    // Matrices (patch embedding included) once per patch; attention 4 x T^2 x width per layer.
    v.flops = 2 * m.elements * patches + 4 * patches * patches * static_cast<double>(width * layers);
    v.bytes_read = m.bytes;
    v.quantized = m.quantized;
    v.weight_type = m.main_type;
    v.batch_tokens = static_cast<int>(patches);
    v.resident_bytes = m.all_bytes;
    v.per_frame = true;
    NM_ASSIGN_OR_RETURN(int64_t heads, mmproj->get_int_or("clip.vision.attention.head_count", 1));
    if (heads <= 0 || heads > width) return error(ErrorCode::invalid_file, mmproj->path() + ": head_count out of range");
    v.ops = graph_ops(m, static_cast<double>(layers), patches, static_cast<double>(width), kVisionOpsPerLayer,
                      vision_attention_ops(static_cast<double>(heads), patches, static_cast<double>(width)));
    NM_ASSIGN_OR_RETURN(int64_t ffn, vision_ffn(*mmproj, width));
    v.attention_flops = 4 * patches * patches * static_cast<double>(width * layers);
    v.attention_tokens = v.attention_kv = static_cast<int>(patches);
    v.attention_matmuls = true;  // vision_graph.cpp: two matmuls and a softmax per head
    v.elementwise_bytes = static_cast<double>(layers) * patches *
                              vision_elementwise_per_row(static_cast<double>(width), static_cast<double>(ffn)) +
                          4.0 * 2 * 3 * static_cast<double>(image_size * image_size);  // im2col of the pixels
    out.push_back(v);
    if (notes)
      notes->push_back(fmt("vision: %.0f patches of a %.0f px image, %.1f M matrix weights (%.1f MB), ", patches,
                           static_cast<double>(image_size), m.elements / 1e6, m.bytes / 1e6) +
                       fmt("%.0f layers of width %.0f -> %.0f image tokens", static_cast<double>(layers),
                           static_cast<double>(width), static_cast<double>(image_tokens)));
  }

  NM_ASSIGN_OR_RETURN(std::string arch, llm.get_string("general.architecture"));
  NM_ASSIGN_OR_RETURN(int64_t n_embd, positive(llm, arch + ".embedding_length"));
  NM_ASSIGN_OR_RETURN(int64_t n_layer, positive(llm, arch + ".block_count"));
  NM_ASSIGN_OR_RETURN(int64_t n_head, positive(llm, arch + ".attention.head_count"));
  NM_ASSIGN_OR_RETURN(int64_t n_head_kv, llm.get_int_or(arch + ".attention.head_count_kv", n_head));
  if (n_head_kv <= 0 || n_head_kv > n_head) return error(ErrorCode::invalid_file, llm.path() + ": head_count_kv out of range");
  const MatrixTotals t = matrices(llm, "token_embd.weight");
  const double head_dim = static_cast<double>(n_embd) / static_cast<double>(n_head);
  const double kv_bytes_per_pos = 2.0 * static_cast<double>(n_head_kv) * head_dim * 2.0 * static_cast<double>(n_layer);  // K+V, f16
  const double n_prefill = static_cast<double>(image_tokens + shape.prompt_tokens);

  BrickWork pre;
  pre.name = "text prefill";
  pre.device = place.text_device;
  pre.flops = 2 * t.elements * n_prefill + 2 * n_prefill * n_prefill * static_cast<double>(n_embd * n_layer);  // causal
  pre.bytes_read = t.bytes;
  pre.quantized = t.quantized;
  pre.weight_type = t.main_type;
  pre.batch_tokens = static_cast<int>(n_prefill);
  pre.resident_bytes = t.all_bytes;
  pre.ops = graph_ops(t, static_cast<double>(n_layer), n_prefill, static_cast<double>(n_embd), kTextOpsPerLayer);
  NM_ASSIGN_OR_RETURN(int64_t n_ff, llm.get_int_or(arch + ".feed_forward_length", 4 * n_embd));
  if (n_ff <= 0 || n_ff > (1 << 24)) return error(ErrorCode::invalid_file, llm.path() + ": feed_forward_length out of range");
  const double per_row = text_elementwise_per_row(static_cast<double>(n_embd), static_cast<double>(n_ff)) * n_layer;
  pre.attention_flops = 2 * n_prefill * n_prefill * static_cast<double>(n_embd * n_layer);
  pre.attention_tokens = pre.attention_kv = static_cast<int>(n_prefill);
  pre.elementwise_bytes = n_prefill * per_row;
  out.push_back(pre);

  BrickWork dec;
  dec.name = "text decode";
  dec.device = place.text_device;
  const double ctx = n_prefill + shape.answer_tokens / 2.0;  // mean context over the answer
  dec.flops = 2 * t.elements + 4 * ctx * static_cast<double>(n_embd * n_layer);
  dec.bytes_read = t.bytes + ctx * kv_bytes_per_pos;
  dec.quantized = t.quantized;
  dec.weight_type = t.main_type;
  dec.batch_tokens = 1;
  dec.runs = shape.answer_tokens;
  dec.ops = graph_ops(t, static_cast<double>(n_layer), 1, static_cast<double>(n_embd), kTextOpsPerLayer);
  dec.attention_flops = 4 * ctx * static_cast<double>(n_embd * n_layer);
  dec.attention_tokens = 1;
  dec.attention_kv = static_cast<int>(ctx);
  dec.elementwise_bytes = per_row;
  out.push_back(dec);
  if (notes) {
    notes->push_back("text: " + arch + fmt(", %.1f M matrix weights (%.1f MB), %.0f layers of width %.0f; ", t.elements / 1e6,
                                           t.bytes / 1e6, static_cast<double>(n_layer), static_cast<double>(n_embd)) +
                     fmt("prefill %.0f tokens (%.0f image + %.0f prompt), %.0f answer tokens", n_prefill,
                         static_cast<double>(image_tokens), static_cast<double>(shape.prompt_tokens),
                         static_cast<double>(shape.answer_tokens)));
  }
  return out;
}

}  // namespace nm::energy
