// ImageEmbedder: the vision brick for one picture — an RGB image in, LLM-space embeddings
// out. Preprocesses as the model's image processor does (the tiling scheme the mmproj file
// asks for: LLaVA-1.6 / OneVision anyres, SmolVLM / Idefics3 splitting, else one resize to
// the trained size), runs the encoder + projector on every tile, and merges the tiles the
// way the model family expects. In static-shape mode every encoder call gets one fixed
// input size (as NPUs need): the image is fitted and padded to it, without tiling.
// Not thread-safe: one per session.
#pragma once

#include <memory>
#include <vector>

#include "bricks/vision/anyres_merge.h"
#include "bricks/vision/image_split.h"
#include "bricks/vision/vision_encoder.h"

namespace nm {

struct ImageEmbedderParams {
  int static_width = 0, static_height = 0;  // > 0 (both): static-shape mode at this input size
  Isa isa = best_isa();
  Device* device = nullptr;  // where the encoder runs (VisionEncoderParams::device)
  bool pack_weights = true;  // VisionEncoderParams::pack_weights
  std::shared_ptr<PackedWeights> packed;  // VisionEncoderParams::packed
};

// How an image's embeddings are laid out, decided from its size before encoding.
struct ImagePlan {
  enum class Kind { single, anyres, split } kind = Kind::single;
  int n_tokens = 0;      // embeddings in total
  int tile_tokens = 0;   // embeddings per encoder call
  int n_encodes = 1;     // encoder calls
  AnyresGrid grid;       // anyres: the tile grid (0 x 0 under static shape)
  int rows = 0, cols = 0;  // split: the tile grid; 0 x 0 = the global image alone
};

struct ImageEmbedding {
  std::vector<float> data;  // n_tokens x n_embd floats (token-major), in prompt order
  ImagePlan plan;           // split images: rows * cols tiles of tile_tokens, then the global image
};

struct ImageTimings {
  double preprocess_ms = 0;  // resize, tiling, normalisation
  double encode_ms = 0;      // encoder + projector + merge
};

class ImageEmbedder {
 public:
  static Result<std::unique_ptr<ImageEmbedder>> create(const MmprojModel& model, const ImageEmbedderParams& params);

  Result<ImagePlan> plan(int width, int height) const;
  // Adds the time spent to *timings when given.
  Status embed(const Image& image, ThreadPool& pool, ImageEmbedding& out, ImageTimings* timings = nullptr);

  // The images the encoder sees for `image` under `plan` (from plan()), in encoding order:
  // anyres: overview then tiles; split: tiles then the global image.
  Result<std::vector<Image>> tiles_for(const Image& image, const ImagePlan& plan) const;

  const MmprojModel& model() const { return model_; }
  int n_embd_out() const { return encoder_->n_embd_out(); }
  bool static_shape() const { return static_; }

 private:
  ImageEmbedder(const MmprojModel& model, bool is_static) : model_(model), static_(is_static) {}

  const MmprojModel& model_;
  bool static_;
  std::vector<float> newline_;  // model.image_newline as f32 (empty when absent)
  std::unique_ptr<VisionEncoder> encoder_;
};

}  // namespace nm
