// Planner bricks from model files (see plan_bricks.h).
#include "runtime/plan/plan_bricks.h"

#include <cstdio>

namespace nm::plan {

namespace {

Result<double> hparam(const GgufFile& f, const std::string& key, int64_t def = -1) {
  NM_ASSIGN_OR_RETURN(int64_t v, def < 0 ? f.get_int(key) : f.get_int_or(key, def));
  if (v <= 0 || v > (1 << 24)) return error(ErrorCode::invalid_file, f.path() + ": " + key + " = " + std::to_string(v) + " is out of range");
  return static_cast<double>(v);
}

double file_bytes(const GgufFile& f) {
  double b = 0;
  for (const GgufTensorInfo& t : f.tensors()) b += static_cast<double>(t.n_bytes);
  return b;
}

// A transformer graph's arena over T rows of width W with FFN width F and H heads: the
// residual, normed, q/k/v and FFN rows live at once, plus one layer's attention scores (f32).
double arena_bytes(double t, double w, double f, double h, double kv) { return 4.0 * (t * (4 * w + 2 * f) + h * t * kv); }

}  // namespace

Result<std::vector<PlanBrick>> bricks_from_files(const GgufFile& llm, const GgufFile* mmproj,
                                                 const energy::EventShape& shape, std::vector<std::string>* notes) {
  NM_ASSIGN_OR_RETURN(std::vector<energy::BrickWork> work,
                      energy::question_work(llm, mmproj, shape, energy::EventPlacement{}, notes));
  std::vector<PlanBrick> out;
  char line[256];
  if (mmproj) {
    PlanBrick v;
    v.name = "vision";
    v.camera_only = true;
    v.work.push_back(work.at(0));
    v.weight_bytes = file_bytes(*mmproj);
    NM_ASSIGN_OR_RETURN(double width, hparam(*mmproj, "clip.vision.embedding_length"));
    NM_ASSIGN_OR_RETURN(double ffn, hparam(*mmproj, "clip.vision.feed_forward_length", static_cast<int64_t>(4 * width)));
    NM_ASSIGN_OR_RETURN(double heads, hparam(*mmproj, "clip.vision.attention.head_count", 1));
    const double patches = work[0].batch_tokens;
    v.activation_bytes = arena_bytes(patches, width, ffn, heads, patches);
    out.push_back(v);
    std::snprintf(line, sizeof line, "vision: %.1f MB of weights, arena about %.1f MB (estimated from shapes)",
                  v.weight_bytes / 1e6, v.activation_bytes / 1e6);
    if (notes) notes->push_back(line);
  }
  PlanBrick t;
  t.name = "text";
  t.work.assign(work.end() - 2, work.end());  // prefill, decode
  t.weight_bytes = file_bytes(llm);
  NM_ASSIGN_OR_RETURN(std::string arch, llm.get_string("general.architecture"));
  NM_ASSIGN_OR_RETURN(double n_embd, hparam(llm, arch + ".embedding_length"));
  NM_ASSIGN_OR_RETURN(double n_layer, hparam(llm, arch + ".block_count"));
  NM_ASSIGN_OR_RETURN(double n_head, hparam(llm, arch + ".attention.head_count"));
  NM_ASSIGN_OR_RETURN(double n_head_kv, hparam(llm, arch + ".attention.head_count_kv", static_cast<int64_t>(n_head)));
  NM_ASSIGN_OR_RETURN(double n_ff, hparam(llm, arch + ".feed_forward_length", static_cast<int64_t>(4 * n_embd)));
  const GgufTensorInfo* emb = llm.find_tensor("token_embd.weight");
  const double n_vocab = emb ? static_cast<double>(emb->ne[1]) : 0;
  const double positions = t.work[0].batch_tokens + shape.answer_tokens;
  const double head_dim = n_embd / n_head;
  t.kv_bytes = 2.0 * n_head_kv * head_dim * 2.0 * n_layer * positions;  // K and V, f16
  t.activation_bytes = arena_bytes(t.work[0].batch_tokens, n_embd, n_ff, n_head, positions) + 4.0 * n_vocab;
  t.layers = static_cast<int>(n_layer);
  out.push_back(t);
  std::snprintf(line, sizeof line, "text: %.1f MB of weights, KV %.1f MB for %.0f positions (f16), arena about %.1f MB (estimated from shapes)",
                t.weight_bytes / 1e6, t.kv_bytes / 1e6, positions, t.activation_bytes / 1e6);
  if (notes) notes->push_back(line);
  return out;
}

}  // namespace nm::plan
