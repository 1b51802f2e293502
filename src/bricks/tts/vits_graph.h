// The two graphs of a VITS voice (Kim et al. 2021) in NanoMind ops, activations as rows of
// channels (one row per phoneme or latent frame):
//  - encoder graph, T phonemes: ids -> text encoder (relative-position transformer) ->
//    `stats` [2*inter, T] (prior means, then log-sigmas) and, through the stochastic duration
//    predictor run in reverse from `dp_noise` [2, T] (zeros, or N(0,1) * noise_w),
//    `logw` [2, T] (column 0 is log-duration in frames);
//  - decoder graph, F frames: `z` [inter, F] (the expanded prior, plus noise) -> the
//    normalising flow in reverse -> HiFi-GAN generator -> `audio` [F * hop] in [-1, 1].
// The runtime fills the inputs, turns log-durations into frames between the two
// (runtime/speech_synth.h) and reads the outputs.
#pragma once

#include <memory>

#include "bricks/brick.h"

namespace nm {

class VitsModel;

struct VitsEncoderGraph : BrickGraph {  // in = ids
  NodeId dp_noise = kInvalidNode;
  NodeId stats = kInvalidNode;
  NodeId logw = kInvalidNode;  // == out
  int n_tokens = 0;
};

struct VitsDecoderGraph : BrickGraph {  // in = z, out = audio
  int n_frames = 0;
};

Result<std::unique_ptr<BrickGraph>> build_vits_encoder_graph(const VitsModel& model, int n_tokens);
Result<std::unique_ptr<BrickGraph>> build_vits_decoder_graph(const VitsModel& model, int n_frames);

// 2 x multiply-adds of the graph's matmuls (convolutions are matmuls here) and attention.
double graph_matmul_flops(const Graph& g);

}  // namespace nm
