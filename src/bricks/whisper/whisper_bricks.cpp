#include "bricks/whisper/whisper_bricks.h"

#include <algorithm>

namespace nm {
namespace {

size_t block_bytes(const WhisperBlock& L) {
  size_t b = 0;
  for (const Tensor* t : {&L.attn_ln_w, &L.attn_ln_b, &L.attn.q_w, &L.attn.q_b, &L.attn.k_w, &L.attn.k_b, &L.attn.v_w,
                          &L.attn.v_b, &L.attn.o_w, &L.attn.o_b, &L.cross_ln_w, &L.cross_ln_b, &L.cross.q_w,
                          &L.cross.q_b, &L.cross.k_w, &L.cross.k_b, &L.cross.v_w, &L.cross.v_b, &L.cross.o_w,
                          &L.cross.o_b, &L.mlp_ln_w, &L.mlp_ln_b, &L.mlp0_w, &L.mlp0_b, &L.mlp2_w, &L.mlp2_b}) {
    if (t->data) b += t->n_bytes();
  }
  return b;
}

WhisperKvLayout one_sequence(const WhisperModel& m) {
  const WhisperHparams& hp = m.hparams();
  return WhisperKvLayout{hp.n_text_layer, hp.n_text_ctx, 1, hp.n_text_state, hp.n_text_head, hp.n_audio_ctx,
                         DType::F16, DType::F16};
}

}  // namespace

// ---- audio ---------------------------------------------------------------------------

WhisperAudioBrick::WhisperAudioBrick(std::shared_ptr<const WhisperModel> model) : WhisperBrick(std::move(model)) {
  const WhisperWeights& w = model_->weights();
  for (const Tensor* t : {&w.conv1_w, &w.conv1_b, &w.conv2_w, &w.conv2_b, &w.enc_pos, &w.enc_ln_w, &w.enc_ln_b}) {
    weight_bytes_ += t->n_bytes();
  }
  for (const WhisperBlock& L : w.enc) weight_bytes_ += block_bytes(L);
}

std::string WhisperAudioBrick::description() const {
  const WhisperHparams& hp = model_->hparams();
  return "whisper encoder " + std::string(dtype_name(model_->weight_type())) + ", " + std::to_string(hp.n_audio_layer) +
         " layers, " + std::to_string(hp.n_mels) + " mel bins";
}

int64_t WhisperAudioBrick::windows(int64_t n_samples) {
  return std::max<int64_t>(1, (n_samples + kWhisperChunkSamples - 1) / kWhisperChunkSamples);
}

double WhisperAudioBrick::encoder_flops() const {
  const WhisperHparams& hp = model_->hparams();
  const double T = hp.n_audio_ctx, E = hp.n_audio_state, F = (double)model_->weights().enc[0].mlp0_w.ne[1];
  double fma = 2 * T * 3.0 * hp.n_mels * E + T * 3.0 * E * E;  // conv1 (3000 frames), conv2 (1500)
  fma += hp.n_audio_layer * (T * (4 * E * E + 2 * E * F) + 2 * T * T * E);
  return 2 * fma;
}

Result<std::vector<PortSpec>> WhisperAudioBrick::inputs(const BrickInput& in) const {
  if (in.n_samples < 0) return error(ErrorCode::invalid_argument, "negative sample count");
  return std::vector<PortSpec>{{"pcm", PortKind::pcm, DType::F32, in.n_samples, 1}};
}

Result<std::vector<PortSpec>> WhisperAudioBrick::outputs(const BrickInput& in) const {
  const WhisperHparams& hp = model_->hparams();
  return std::vector<PortSpec>{
      {"states", PortKind::embeddings, DType::F32, windows(in.n_samples) * hp.n_audio_ctx, hp.n_audio_state}};
}

Result<BrickCost> WhisperAudioBrick::cost(const BrickInput& in) const {
  const int64_t n = windows(in.n_samples);
  BrickCost c;
  c.n_graph_runs = (int)n;
  c.flops = (double)n * encoder_flops();
  c.weight_bytes_read = (size_t)n * weight_bytes_;
  c.resident_weight_bytes = weight_bytes_;
  NM_ASSIGN_OR_RETURN(std::unique_ptr<BrickGraph> g, build_graph({}, nullptr));
  NM_ASSIGN_OR_RETURN(c.activation_bytes, planned_activation_bytes(*g));
  return c;
}

Result<std::unique_ptr<BrickGraph>> WhisperAudioBrick::build_graph(const GraphShape&, const KvCache*) const {
  NM_ASSIGN_OR_RETURN(WhisperEncoderGraph g, build_whisper_encoder_graph(*model_));
  return std::unique_ptr<BrickGraph>(std::make_unique<WhisperEncoderGraph>(std::move(g)));
}

// ---- asr -----------------------------------------------------------------------------

WhisperAsrBrick::WhisperAsrBrick(std::shared_ptr<const WhisperModel> model) : WhisperBrick(std::move(model)) {
  const WhisperWeights& w = model_->weights();
  for (const Tensor* t : {&w.tok_emb, &w.dec_pos, &w.dec_ln_w, &w.dec_ln_b}) weight_bytes_ += t->n_bytes();
  for (const WhisperBlock& L : w.dec) weight_bytes_ += block_bytes(L);
}

std::string WhisperAsrBrick::description() const {
  const WhisperHparams& hp = model_->hparams();
  return "whisper decoder " + std::string(dtype_name(model_->weight_type())) + ", " + std::to_string(hp.n_text_layer) +
         " layers, " + (model_->vocab().multilingual() ? "multilingual" : "English only");
}

Result<std::vector<PortSpec>> WhisperAsrBrick::inputs(const BrickInput& in) const {
  const WhisperHparams& hp = model_->hparams();
  return std::vector<PortSpec>{{"states", PortKind::embeddings, DType::F32,
                                WhisperAudioBrick::windows(in.n_samples) * hp.n_audio_ctx, hp.n_audio_state}};
}

Result<std::vector<PortSpec>> WhisperAsrBrick::outputs(const BrickInput& in) const {
  const int64_t n = in.n_tokens > 0 ? in.n_tokens : WhisperAudioBrick::windows(in.n_samples) * (model_->hparams().n_text_ctx / 2);
  return std::vector<PortSpec>{{"tokens", PortKind::tokens, DType::I32, n, 1}};
}

Result<BrickCost> WhisperAsrBrick::cost(const BrickInput& in) const {
  const WhisperHparams& hp = model_->hparams();
  const int64_t windows = WhisperAudioBrick::windows(in.n_samples);
  const int64_t tokens = in.n_tokens > 0 ? in.n_tokens : windows * (hp.n_text_ctx / 2);
  const double E = hp.n_text_state, T = hp.n_audio_ctx;
  const size_t matrices = weight_bytes_ - model_->weights().dec_pos.n_bytes();
  BrickCost c;
  c.n_graph_runs = (int)(windows + tokens);  // cross K/V once per window, a step per token
  // Per window: cross K/V (2 matmuls per layer over 1500 states); per token: every matrix
  // (~2 FLOP per weight), attention over 1500 cross positions, the vocabulary projection.
  c.flops = (double)windows * hp.n_text_layer * 2 * 2 * T * E * E +
            (double)tokens * (2.0 * (double)(matrices / 2) + hp.n_text_layer * 4.0 * T * E);
  c.weight_bytes_read = (size_t)(windows + tokens) * weight_bytes_;
  c.resident_weight_bytes = weight_bytes_;
  c.kv_bytes_per_token = (size_t)(2 * hp.n_text_layer * hp.n_text_state * 2);  // f16 K and V
  NM_ASSIGN_OR_RETURN(std::unique_ptr<BrickGraph> g, build_graph({1, 32, false, 0, 0}, nullptr));
  NM_ASSIGN_OR_RETURN(c.activation_bytes, planned_activation_bytes(*g));
  return c;
}

Result<std::unique_ptr<BrickGraph>> WhisperAsrBrick::build_graph(const GraphShape& shape, const KvCache*) const {
  const int n_kv = shape.n_kv > 0 ? shape.n_kv : std::max(1, shape.n_tokens);
  NM_ASSIGN_OR_RETURN(WhisperDecoderGraph g, build_whisper_decoder_graph(*model_, one_sequence(*model_), shape.n_tokens,
                                                                         1, n_kv, shape.all_logits));
  return std::unique_ptr<BrickGraph>(std::make_unique<WhisperDecoderGraph>(std::move(g)));
}

}  // namespace nm
