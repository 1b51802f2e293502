// VisionEncoder: runs an MmprojModel on preprocessed images (planar normalised RGB, see
// preprocess.h) and returns the projected image embeddings, one n_embd_out row per
// image token, ready for TextContext::eval_embeddings. Graphs are built once per input
// size and reused; position embeddings for sizes other than the trained one are
// resampled on the CPU once per size. With static_shape, only one input size is accepted
// (the file's image_size unless given; one graph shape, as NPUs need). Not thread-safe:
// one per session.
#pragma once

#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "backend/graph_runner.h"
#include "bricks/vision/mmproj.h"
#include "bricks/vision/preprocess.h"
#include "bricks/vision/vision_graph.h"
#include "core/thread_pool.h"

namespace nm {

struct VisionEncoderParams {
  bool static_shape = true;  // reject inputs of any other size than the static one
  int static_width = 0, static_height = 0;  // the static input size; 0: the file's image_size
  Isa isa = best_isa();
  Device* device = nullptr;  // where the graphs run; nullptr: the CPU executor on the caller's pool
  bool pack_weights = true;  // as TextContextParams::pack_weights
  std::shared_ptr<PackedWeights> packed;  // as TextContextParams::packed
};

class VisionEncoder {
 public:
  static Result<std::unique_ptr<VisionEncoder>> create(const MmprojModel& model, const VisionEncoderParams& params);

  // Image tokens produced for an input of width x height pixels (error if the size is not usable).
  Result<int> n_tokens(int width, int height) const;
  int n_embd_out() const { return model_.hparams().n_embd_out; }
  // The one accepted input size under static_shape.
  int static_width() const { return params_.static_width; }
  int static_height() const { return params_.static_height; }

  // Encodes one image; `out` is resized to n_tokens * n_embd_out floats (token-major).
  Status encode(const EncoderInput& image, ThreadPool& pool, std::vector<float>& out);

  const MmprojModel& model() const { return model_; }
  Device* device() const { return params_.device; }

 private:
  struct Shape {
    VisionGraph meta;
    std::unique_ptr<GraphRunner> exec;
    std::vector<float> pos;  // position embeddings for this grid
  };
  VisionEncoder(const MmprojModel& model, const VisionEncoderParams& p);
  Status check_size(int width, int height) const;
  Result<Shape*> shape_for(int width, int height);

  const MmprojModel& model_;
  VisionEncoderParams params_;
  std::shared_ptr<PackedWeights> packed_;  // null when not packing
  std::vector<float> cls_;  // class embedding as f32 (CLIP)
  std::map<std::pair<int, int>, std::unique_ptr<Shape>> shapes_;
};

}  // namespace nm
