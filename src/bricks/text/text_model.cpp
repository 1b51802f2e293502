#include "bricks/text/text_model.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "bricks/text/text_graph.h"

namespace nm {
namespace {

std::string key(const std::string& arch, const char* suffix) { return arch + "." + suffix; }

}  // namespace

Result<std::unique_ptr<TextModel>> TextModel::load(const std::string& path) { return load_brick<TextModel>(path); }

Result<std::unique_ptr<TextModel>> TextModel::from_gguf(std::shared_ptr<const GgufFile> file) {
  std::unique_ptr<TextModel> m(new TextModel());
  m->file_ = std::move(file);
  NM_RETURN_IF_ERROR(m->load_hparams());
  NM_RETURN_IF_ERROR(m->load_tokenizer());
  NM_RETURN_IF_ERROR(m->load_weights());
  return m;
}

Status TextModel::load_hparams() {
  const GgufFile& f = *file_;
  NM_ASSIGN_OR_RETURN(hp_.arch, f.get_string("general.architecture"));
  if (hp_.arch != "llama" && hp_.arch != "qwen2" && hp_.arch != "qwen3" && hp_.arch != "gemma3") {
    return error(ErrorCode::unsupported, "model architecture '" + hp_.arch +
                                             "' is not supported by the text brick (supported: llama, qwen2, qwen3, "
                                             "gemma3)");
  }
  const std::string& a = hp_.arch;
  auto get_int = [&](const char* suffix, int& out) -> Status {
    NM_ASSIGN_OR_RETURN(int64_t v, f.get_int(key(a, suffix)));
    if (v <= 0 || v > (1 << 24)) return error(ErrorCode::invalid_file, key(a, suffix) + " = " + std::to_string(v) + " is out of range");
    out = (int)v;
    return Status();
  };
  NM_RETURN_IF_ERROR(get_int("context_length", hp_.n_ctx_train));
  NM_RETURN_IF_ERROR(get_int("embedding_length", hp_.n_embd));
  NM_RETURN_IF_ERROR(get_int("block_count", hp_.n_layer));
  NM_RETURN_IF_ERROR(get_int("feed_forward_length", hp_.n_ff));
  NM_RETURN_IF_ERROR(get_int("attention.head_count", hp_.n_head));
  hp_.n_head_kv = hp_.n_head;
  if (f.has(key(a, "attention.head_count_kv"))) NM_RETURN_IF_ERROR(get_int("attention.head_count_kv", hp_.n_head_kv));
  hp_.head_dim = hp_.n_embd / hp_.n_head;
  if (f.has(key(a, "attention.key_length"))) NM_RETURN_IF_ERROR(get_int("attention.key_length", hp_.head_dim));
  if (hp_.n_head % hp_.n_head_kv != 0) {
    return error(ErrorCode::invalid_file, "head_count " + std::to_string(hp_.n_head) +
                                              " is not a multiple of head_count_kv " + std::to_string(hp_.n_head_kv));
  }
  NM_ASSIGN_OR_RETURN(hp_.rms_eps, f.get_f32_or(key(a, "attention.layer_norm_rms_epsilon"), 1e-5f));
  NM_ASSIGN_OR_RETURN(hp_.rope_freq_base, f.get_f32_or(key(a, "rope.freq_base"), 10000.0f));
  // Named here: a NaN epsilon used to surface as the graph's "invalid argument" at session start.
  auto check_real = [&](const char* suffix, float v, bool zero_ok) -> Status {
    if (std::isfinite(v) && (v > 0 || (zero_ok && v == 0))) return Status();
    return error(ErrorCode::invalid_file, key(a, suffix) + " = " + std::to_string(v) + " is not a finite number " +
                                              (zero_ok ? ">= 0" : "> 0"));
  };
  NM_RETURN_IF_ERROR(check_real("attention.layer_norm_rms_epsilon", hp_.rms_eps, true));
  NM_RETURN_IF_ERROR(check_real("rope.freq_base", hp_.rope_freq_base, false));
  NM_ASSIGN_OR_RETURN(int64_t n_rot, f.get_int_or(key(a, "rope.dimension_count"), hp_.head_dim));
  if (n_rot <= 0 || n_rot > hp_.head_dim || n_rot % 2) {
    return error(ErrorCode::invalid_file, "rope.dimension_count " + std::to_string(n_rot) + " does not fit head size " +
                                              std::to_string(hp_.head_dim));
  }
  hp_.n_rot = (int)n_rot;
  NM_ASSIGN_OR_RETURN(std::string scaling, f.get_string_or(key(a, "rope.scaling.type"), "none"));
  if (scaling == "linear") {
    NM_ASSIGN_OR_RETURN(float factor, f.get_f32_or(key(a, "rope.scaling.factor"), 1.0f));
    if (!(factor > 0)) return error(ErrorCode::invalid_file, "rope.scaling.factor must be positive");
    hp_.rope_freq_scale = 1.0f / factor;
  } else if (scaling != "none" && scaling != "llama3") {
    // llama3 scaling is carried by the rope_freqs tensor; yarn and others are not implemented.
    return error(ErrorCode::unsupported, "rope scaling '" + scaling + "' is not supported");
  }
  // GGUF stores llama Q/K permuted for adjacent-pair rotation; the others use the halves (neox).
  hp_.rope_mode = a == "llama" ? RopeMode::normal : RopeMode::neox;
  hp_.has_qk_norm = a == "qwen3" || a == "gemma3";
  if (a == "gemma3") NM_RETURN_IF_ERROR(load_gemma3_hparams());
  return Status();
}

// Gemma 3 as llama.cpp reads it (the GGUF norm weights already hold Gemma's 1 + w).
Status TextModel::load_gemma3_hparams() {
  const GgufFile& f = *file_;
  const std::string& a = hp_.arch;
  hp_.has_post_norms = true;
  hp_.ffn_gelu = true;
  hp_.embd_scale = std::sqrt((float)hp_.n_embd);
  // Gemma 3 27B (62 layers) scales queries by 1/sqrt(n_embd / n_head), the others by
  // 1/sqrt(head_dim) (query_pre_attn_scalar; the GGUF does not carry it).
  hp_.attn_scale = hp_.n_layer == 62 ? 1.0f / std::sqrt((float)(hp_.n_embd / hp_.n_head))
                                     : 1.0f / std::sqrt((float)hp_.head_dim);
  NM_ASSIGN_OR_RETURN(int64_t n_swa, f.get_int_or(key(a, "attention.sliding_window"), 0));
  if (n_swa < 0 || n_swa > (1 << 24)) {
    return error(ErrorCode::invalid_file, key(a, "attention.sliding_window") + " = " + std::to_string(n_swa) +
                                              " is out of range");
  }
  if (n_swa > 0) {
    hp_.n_swa = (int)n_swa;
    hp_.swa_pattern = 6;  // five sliding-window layers, then one global
    NM_ASSIGN_OR_RETURN(hp_.rope_freq_base_swa, f.get_f32_or(key(a, "rope.freq_base_swa"), 10000.0f));
  }
  // Gemma 3 checkpoints have no soft-capping (the converter asserts it); a file that asks
  // for it would need a tanh the graph does not have.
  NM_ASSIGN_OR_RETURN(float softcap, f.get_f32_or(key(a, "final_logit_softcapping"), 0.0f));
  NM_ASSIGN_OR_RETURN(float attn_softcap, f.get_f32_or(key(a, "attn_logit_softcapping"), 0.0f));
  if (softcap != 0.0f || attn_softcap != 0.0f) {
    return error(ErrorCode::unsupported, "this gemma3 file asks for logit soft-capping, which the text brick does "
                                         "not implement");
  }
  return Status();
}

Status TextModel::embed_tokens(std::span<const int32_t> tokens, float* out) const {
  const Tensor& table = w_.token_embd;
  const TypeTraits* tt = type_traits(table.type);
  if (!tt->to_float) return error(ErrorCode::unsupported, "token embeddings of type " + std::string(tt->name));
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= hp_.n_vocab) {
      return error(ErrorCode::invalid_argument, "token id " + std::to_string(tokens[i]) +
                                                    " is outside the vocabulary (0.." + std::to_string(hp_.n_vocab - 1) +
                                                    ")");
    }
    float* row = out + i * (size_t)hp_.n_embd;
    tt->to_float(table.row(tokens[i]), row, hp_.n_embd);
    if (hp_.embd_scale != 1.0f) {
      for (int j = 0; j < hp_.n_embd; ++j) row[j] *= hp_.embd_scale;
    }
  }
  return Status();
}

Status TextModel::load_tokenizer() {
  const GgufFile& f = *file_;
  if (!f.has("tokenizer.ggml.model") || !f.has("tokenizer.ggml.tokens")) {
    return error(ErrorCode::invalid_file, "the model file has no tokenizer (tokenizer.ggml.model / tokens missing)");
  }
  Vocab v;
  NM_ASSIGN_OR_RETURN(v.model, f.get_string("tokenizer.ggml.model"));
  NM_ASSIGN_OR_RETURN(v.pre, f.get_string_or("tokenizer.ggml.pre", "default"));
  NM_ASSIGN_OR_RETURN(v.tokens, f.get_array_strings("tokenizer.ggml.tokens"));
  if (f.has("tokenizer.ggml.scores")) {
    NM_ASSIGN_OR_RETURN(v.scores, f.get_array_f32("tokenizer.ggml.scores"));
  }
  if (f.has("tokenizer.ggml.token_type")) {
    NM_ASSIGN_OR_RETURN(v.token_type, f.get_array_i32("tokenizer.ggml.token_type"));
  }
  if (f.has("tokenizer.ggml.merges")) {
    NM_ASSIGN_OR_RETURN(v.merges, f.get_array_strings("tokenizer.ggml.merges"));
  }
  auto id = [&](const char* k, TokenId& out) -> Status {
    NM_ASSIGN_OR_RETURN(int64_t x, f.get_int_or(k, k_no_token));
    out = (TokenId)x;
    return Status();
  };
  NM_RETURN_IF_ERROR(id("tokenizer.ggml.bos_token_id", v.bos_token_id));
  NM_RETURN_IF_ERROR(id("tokenizer.ggml.eos_token_id", v.eos_token_id));
  NM_RETURN_IF_ERROR(id("tokenizer.ggml.eot_token_id", v.eot_token_id));
  NM_RETURN_IF_ERROR(id("tokenizer.ggml.unknown_token_id", v.unknown_token_id));
  NM_RETURN_IF_ERROR(id("tokenizer.ggml.padding_token_id", v.padding_token_id));
  // llama.cpp's defaults when the keys are absent: SentencePiece adds BOS, BPE does not.
  NM_ASSIGN_OR_RETURN(v.add_bos_token, f.get_bool_or("tokenizer.ggml.add_bos_token", v.model == "llama"));
  NM_ASSIGN_OR_RETURN(v.add_eos_token, f.get_bool_or("tokenizer.ggml.add_eos_token", false));
  NM_ASSIGN_OR_RETURN(v.add_space_prefix, f.get_bool_or("tokenizer.ggml.add_space_prefix", v.model == "llama"));
  NM_ASSIGN_OR_RETURN(v.chat_template, f.get_string_or("tokenizer.chat_template", ""));
  NM_ASSIGN_OR_RETURN(Tokenizer t, Tokenizer::create(std::move(v)));
  tokenizer_.emplace(std::move(t));
  hp_.n_vocab = tokenizer_->n_tokens();
  return Status();
}

Status TextModel::load_weights() {
  const GgufFile& f = *file_;
  const int64_t n_embd = hp_.n_embd, n_q = (int64_t)hp_.n_head * hp_.head_dim,
                n_kv = (int64_t)hp_.n_head_kv * hp_.head_dim, n_ff = hp_.n_ff, n_vocab = hp_.n_vocab;
  BrickTensors tensors(f, "the model file");
  auto get = [&](const std::string& name, std::array<int64_t, 2> ne, Tensor& out, bool matrix) -> Status {
    return tensors.get(name, {ne[0], ne[1], 1, 1}, matrix ? BrickTensors::Role::matrix : BrickTensors::Role::f32, out);
  };
  auto get_optional = [&](const std::string& name, std::array<int64_t, 2> ne, Tensor& out) -> Status {
    return tensors.get_optional(name, {ne[0], ne[1], 1, 1}, BrickTensors::Role::f32, out);
  };
  NM_RETURN_IF_ERROR(get("token_embd.weight", {n_embd, n_vocab}, w_.token_embd, true));
  NM_RETURN_IF_ERROR(get("output_norm.weight", {n_embd, 1}, w_.output_norm, false));
  if (f.find_tensor("output.weight")) {
    NM_RETURN_IF_ERROR(get("output.weight", {n_embd, n_vocab}, w_.output, true));
  } else {
    w_.output = w_.token_embd;
    hp_.tied_embeddings = true;
  }
  if (f.find_tensor("rope_freqs.weight")) {
    NM_RETURN_IF_ERROR(get("rope_freqs.weight", {hp_.n_rot / 2, 1}, w_.rope_freqs, false));
    hp_.has_rope_freqs = true;
  }
  w_.layers.resize((size_t)hp_.n_layer);
  for (int i = 0; i < hp_.n_layer; ++i) {
    TextLayerWeights& L = w_.layers[(size_t)i];
    const std::string p = "blk." + std::to_string(i) + ".";
    NM_RETURN_IF_ERROR(get(p + "attn_norm.weight", {n_embd, 1}, L.attn_norm, false));
    NM_RETURN_IF_ERROR(get(p + "attn_q.weight", {n_embd, n_q}, L.wq, true));
    NM_RETURN_IF_ERROR(get(p + "attn_k.weight", {n_embd, n_kv}, L.wk, true));
    NM_RETURN_IF_ERROR(get(p + "attn_v.weight", {n_embd, n_kv}, L.wv, true));
    NM_RETURN_IF_ERROR(get(p + "attn_output.weight", {n_q, n_embd}, L.wo, true));
    NM_RETURN_IF_ERROR(get_optional(p + "attn_q.bias", {n_q, 1}, L.bq));
    NM_RETURN_IF_ERROR(get_optional(p + "attn_k.bias", {n_kv, 1}, L.bk));
    NM_RETURN_IF_ERROR(get_optional(p + "attn_v.bias", {n_kv, 1}, L.bv));
    if ((L.bq.data != nullptr) != (L.bk.data != nullptr) || (L.bq.data != nullptr) != (L.bv.data != nullptr)) {
      return error(ErrorCode::invalid_file, "layer " + std::to_string(i) + " has some but not all of the q/k/v biases");
    }
    hp_.has_qkv_bias = L.bq.data != nullptr;
    if (hp_.has_qk_norm) {
      NM_RETURN_IF_ERROR(get(p + "attn_q_norm.weight", {hp_.head_dim, 1}, L.q_norm, false));
      NM_RETURN_IF_ERROR(get(p + "attn_k_norm.weight", {hp_.head_dim, 1}, L.k_norm, false));
    }
    if (hp_.has_post_norms) {
      NM_RETURN_IF_ERROR(get(p + "post_attention_norm.weight", {n_embd, 1}, L.post_attn_norm, false));
      NM_RETURN_IF_ERROR(get(p + "post_ffw_norm.weight", {n_embd, 1}, L.post_ffn_norm, false));
    }
    NM_RETURN_IF_ERROR(get(p + "ffn_norm.weight", {n_embd, 1}, L.ffn_norm, false));
    NM_RETURN_IF_ERROR(get(p + "ffn_gate.weight", {n_embd, n_ff}, L.w_gate, true));
    NM_RETURN_IF_ERROR(get(p + "ffn_up.weight", {n_embd, n_ff}, L.w_up, true));
    NM_RETURN_IF_ERROR(get(p + "ffn_down.weight", {n_ff, n_embd}, L.w_down, true));
  }
  weight_type_ = tensors.main_matrix_type();
  for (const GgufTensorInfo& t : f.tensors()) {
    n_params_ += t.n_elements();
    weight_bytes_ += t.n_bytes;
  }
  bytes_per_token_ = weight_bytes_ - w_.token_embd.n_bytes() + row_size(w_.token_embd.type, n_embd);
  if (hp_.tied_embeddings) bytes_per_token_ += w_.token_embd.n_bytes();
  return Status();
}


// ---- Brick ---------------------------------------------------------------------------

namespace {

constexpr int kCostBatch = 512;  // prefill chunk the costs assume (TextContextParams::n_batch default)

}  // namespace

std::string TextModel::description() const {
  return hp_.arch + " " + weight_type_ + ", " + std::to_string(hp_.n_layer) + " layers, width " + std::to_string(hp_.n_embd);
}

size_t TextModel::kv_bytes_per_token(DType kv_type) const {
  return 2 * (size_t)hp_.n_layer * row_size(kv_type, (int64_t)hp_.n_head_kv * hp_.head_dim);
}

Result<std::vector<PortSpec>> TextModel::inputs(const BrickInput& in) const {
  if (in.n_tokens <= 0) return error(ErrorCode::invalid_argument, "the text brick needs at least one token");
  return std::vector<PortSpec>{{"tokens", PortKind::tokens, DType::I32, in.n_tokens, 1},
                               {"embeddings", PortKind::embeddings, DType::F32, in.n_tokens, hp_.n_embd}};
}

Result<std::vector<PortSpec>> TextModel::outputs(const BrickInput& in) const {
  if (in.n_tokens <= 0) return error(ErrorCode::invalid_argument, "the text brick needs at least one token");
  return std::vector<PortSpec>{{"logits", PortKind::logits, DType::F32, 1, hp_.n_vocab}};
}

Result<BrickCost> TextModel::cost(const BrickInput& in) const {
  if (in.n_tokens <= 0 || in.n_past < 0) return error(ErrorCode::invalid_argument, "the text brick needs at least one token");
  const double E = hp_.n_embd, F = hp_.n_ff, hd = hp_.head_dim;
  const double n_q = (double)hp_.n_head * hd, n_kv = (double)hp_.n_head_kv * hd;
  // Per token and layer: q, k, v, output and the three FFN matrices.
  const double matmul_per_token = hp_.n_layer * (E * n_q + 2 * E * n_kv + n_q * E + 3 * E * F);
  BrickCost c;
  for (int done = 0; done < in.n_tokens;) {
    const int n = std::min(kCostBatch, in.n_tokens - done);
    const int past = in.n_past + done;
    // Attention: token i (0-based in the chunk) sees past + i + 1 keys: scores and weighted sum.
    const double keys = (double)n * past + (double)n * (n + 1) / 2;
    c.flops += 2 * (n * matmul_per_token + hp_.n_layer * 2 * hp_.n_head * hd * keys + E * hp_.n_vocab);  // + last row's logits
    c.weight_bytes_read += bytes_per_token_;
    c.n_graph_runs++;
    // The graph arena of the first (largest) chunk shape; later chunks reuse their own.
    if (done == 0) {
      GraphShape shape;
      shape.n_tokens = n;
      shape.n_kv = past + n;
      NM_ASSIGN_OR_RETURN(std::unique_ptr<BrickGraph> g, build_graph(shape, nullptr));
      NM_ASSIGN_OR_RETURN(c.activation_bytes, planned_activation_bytes(*g));
    }
    done += n;
  }
  c.resident_weight_bytes = weight_bytes_;
  c.kv_bytes_per_token = kv_bytes_per_token(DType::F16);
  return c;
}

Result<std::unique_ptr<BrickGraph>> TextModel::build_graph(const GraphShape& shape, const KvCache* kv) const {
  if (kv) {
    NM_ASSIGN_OR_RETURN(std::unique_ptr<TextGraph> g, build_text_graph(*this, *kv, shape.n_tokens, shape.n_kv, shape.all_logits));
    return std::unique_ptr<BrickGraph>(std::move(g));
  }
  // A cache reserved in virtual memory only (no page is touched by building or planning),
  // kept alive by the graph.
  if (shape.n_kv <= 0) return error(ErrorCode::invalid_argument, "text graph: n_kv must be positive");
  NM_ASSIGN_OR_RETURN(KvCache cache, KvCache::create({hp_.n_layer, shape.n_kv, hp_.n_head_kv, hp_.head_dim, DType::F16}));
  auto owner = std::make_shared<KvCache>(std::move(cache));
  NM_ASSIGN_OR_RETURN(std::unique_ptr<TextGraph> g,
                      build_text_graph(*this, *owner, shape.n_tokens, shape.n_kv, shape.all_logits, owner));
  return std::unique_ptr<BrickGraph>(std::move(g));
}

}  // namespace nm
