// The forward graph of an mmproj vision encoder + projector for one input size:
// patch embedding (im2col + matmul), class token (CLIP), position embeddings, pre-LN,
// n_layer_run pre-norm transformer blocks (non-causal attention), post-LN, then the
// projector (mlp: Linear-GELU-Linear; idefics3: pixel shuffle + Linear).
// Inputs the caller fills before each run: pixels (`in`), position embeddings, class token.
// `out` is the projected embeddings (an output view of the projector's last node, whose
// storage the runtime may make external: a token-ring slot).
#pragma once

#include <memory>

#include "bricks/brick.h"
#include "bricks/vision/mmproj.h"
#include "graph/graph.h"

namespace nm {

// in:  f32 [width, height, 3]: planar normalised RGB
// out: f32 [n_embd_out, n_tokens]
struct VisionGraph : BrickGraph {
  int width = 0, height = 0;     // input pixels
  int grid_w = 0, grid_h = 0;    // patches
  int n_tokens = 0;              // output embeddings
  NodeId pos = kInvalidNode;     // f32 [n_embd, n_pos]
  NodeId cls = kInvalidNode;     // f32 [n_embd] (CLIP only)
};

// The patch grid is floor(width / patch) x floor(height / patch) (trailing pixels are
// dropped, as a stride-P convolution does); for idefics3 the scale factor must divide it.
Result<std::unique_ptr<VisionGraph>> build_vision_graph(const MmprojModel& model, int width, int height);

}  // namespace nm
