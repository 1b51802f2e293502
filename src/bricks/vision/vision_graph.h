// The forward graph of an mmproj vision encoder + projector for one input size:
// patch embedding (im2col + matmul), class token (CLIP), position embeddings, pre-LN,
// n_layer_run pre-norm transformer blocks (non-causal attention), post-LN, then the
// projector (mlp: Linear-GELU-Linear; idefics3: pixel shuffle + Linear).
// Inputs the caller fills before each run: pixels, position embeddings, class token.
#pragma once

#include "bricks/vision/mmproj.h"
#include "graph/graph.h"

namespace nm {

struct VisionGraph {
  Graph graph;
  int width = 0, height = 0;     // input pixels
  int grid_w = 0, grid_h = 0;    // patches
  int n_tokens = 0;              // output embeddings
  NodeId pixels = kInvalidNode;  // f32 [width, height, 3]: planar normalised RGB
  NodeId pos = kInvalidNode;     // f32 [n_embd, n_pos]
  NodeId cls = kInvalidNode;     // f32 [n_embd] (CLIP only)
  NodeId out = kInvalidNode;     // f32 [n_embd_out, n_tokens]
};

// The patch grid is floor(width / patch) x floor(height / patch) (trailing pixels are
// dropped, as a stride-P convolution does); for idefics3 the scale factor must divide it.
Result<VisionGraph> build_vision_graph(const MmprojModel& model, int width, int height);

}  // namespace nm
