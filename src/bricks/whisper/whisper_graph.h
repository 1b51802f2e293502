// Whisper's forward graphs, built from the published model (openai/whisper model.py) on
// NanoMind's ops:
//  - encoder: log-mel window [3000 frames, n_mels] -> two 1-D convolutions (kernel 3,
//    padding 1, the second with stride 2; as im2col + matmul) with exact (erf) GELU,
//    + the file's sinusoidal positions, pre-norm transformer blocks (non-causal
//    attention, GELU MLP), final LayerNorm -> states [n_audio_state, 1500];
//  - cross K/V: the decoder's per-layer cross-attention keys and values from those states,
//    computed once per window and written into buffers the decoder graph reads, per head:
//    K as rows of keys, V transposed, so that a decode step's cross-attention is two
//    matrix products per head that read them in place;
//  - decoder step: B sequences (beams) of T new tokens each: token + learned position
//    embeddings, per layer causal self-attention over a KV cache (one cache row per
//    position per beam), cross-attention over the window's K/V, GELU MLP; final LayerNorm
//    and logits through the tied embedding table for each sequence's last token.
// Graphs hold weight leaves for caches and buffers; the caller points them at memory
// with GraphRunner::rebind (see WhisperDecoderState). Thread-safety: build on one thread.
#pragma once

#include <vector>

#include "bricks/brick.h"
#include "bricks/whisper/whisper_model.h"
#include "graph/graph.h"

namespace nm {

// in: the mel input F32 [2 x n_ctx, n_mels]; out: the states F32 [n_audio_state, n_ctx].
// n_ctx: encoder positions, 0 = all of them (1500: a 30 s window, as Whisper always runs);
// fewer run the encoder on the window's first 2 x n_ctx mel frames with the first n_ctx
// positional embeddings (whisper.cpp's audio_ctx).
struct WhisperEncoderGraph : BrickGraph {};
Result<WhisperEncoderGraph> build_whisper_encoder_graph(const WhisperModel& model, int n_ctx = 0);

// Memory the decoder reads and writes between steps, laid out as the graphs expect:
// self-attention K and V per layer [n_beams][n_ctx][n_text_state] of `type` and
// cross-attention per layer of `cross_type` (F32 or F16): K [n_head][n_audio_ctx][head_dim]
// and V transposed, [n_head][head_dim][n_audio_ctx]. n_audio_ctx is the window's encoder
// positions (the graphs' shape; the buffers are sized for the model's 1500).
struct WhisperKvLayout {
  int n_layer = 0, n_ctx = 0, n_beams = 0, n_state = 0, n_head = 0, n_audio_ctx = 0;
  DType type = DType::F16;
  DType cross_type = DType::F16;
  size_t elt() const { return type == DType::F32 ? 4 : 2; }
  size_t self_beam_bytes() const { return (size_t)n_ctx * n_state * elt(); }
  size_t self_layer_bytes() const { return self_beam_bytes() * (size_t)n_beams; }
  size_t cross_layer_bytes() const { return (size_t)n_audio_ctx * n_state * (cross_type == DType::F32 ? 4 : 2); }
};

// in: the encoder states F32 [n_audio_state, kv.n_audio_ctx]; the results go into the buffers.
struct WhisperCrossGraph : BrickGraph {
  std::vector<NodeId> k_dst, v_dst;    // weight leaves per layer: the cross K/V buffers
};
Result<WhisperCrossGraph> build_whisper_cross_graph(const WhisperModel& model, const WhisperKvLayout& kv);

// in: token ids I32 [n_tokens * n_beams], beam-major; out: logits F32 [n_vocab, n_beams]
// (the last token of each beam) or [n_vocab, n_tokens] with all_logits (n_beams == 1).
struct WhisperDecoderGraph : BrickGraph {
  int n_tokens = 0, n_beams = 0, n_kv = 0;
  NodeId pos = kInvalidNode;      // input I32 [n_tokens * n_beams]: positions
  NodeId mask = kInvalidNode;     // input F32 [n_kv, n_tokens]: 0 or -inf, shared by beams
  std::vector<NodeId> k_slot, v_slot;    // per layer: where this step's K/V rows go (rebind to row n_past)
  std::vector<NodeId> k_cache, v_cache;  // per layer: the whole self-attention cache (fixed)
  std::vector<NodeId> k_cross, v_cross;  // per layer: the cross-attention buffers (fixed)
};
Result<WhisperDecoderGraph> build_whisper_decoder_graph(const WhisperModel& model, const WhisperKvLayout& kv,
                                                        int n_tokens, int n_beams, int n_kv, bool all_logits);

}  // namespace nm
