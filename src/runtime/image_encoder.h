// ImageEncoder: the runtime's side of the vision brick for whole pictures — an RGB image
// in, LLM-space embeddings out, written where the caller says (a token-ring slot sized
// from plan(): bricks/vision/image_plan.h). Preprocesses as the model's image processor
// does (the tiling the plan chose), runs the encoder + projector on every tile (each
// tile's rows land in place in the destination) and completes the result (anyres grid
// merge, newline rows). Not thread-safe: one per session.
#pragma once

#include <memory>
#include <span>

#include "bricks/vision/image_plan.h"
#include "runtime/vision_encoder.h"

namespace nm {

struct ImageEncoderParams {
  ImageSizing sizing;  // static-shape mode, or the model's own tiling
  BrickRunParams run;  // where the encoder runs (VisionEncoderParams::run)
};

struct ImageTimings {
  double preprocess_ms = 0;  // resize, tiling, normalisation
  double encode_ms = 0;      // encoder + projector + merge
};

class ImageEncoder {
 public:
  static Result<std::unique_ptr<ImageEncoder>> create(const MmprojModel& model, const ImageEncoderParams& params);

  // How an image of this size is encoded and how many embeddings it gives.
  Result<ImagePlan> plan(int width, int height) const;
  // Encodes `image` under `plan` (from plan()) into `out` (plan.n_tokens * n_embd_out()
  // floats, token-major, prompt order). Adds the time spent to *timings when given.
  Status encode(const Image& image, const ImagePlan& plan, ThreadPool& pool, std::span<float> out,
                ImageTimings* timings = nullptr);

  const MmprojModel& model() const { return model_; }
  int n_embd_out() const { return encoder_->n_embd_out(); }
  const ImageSizing& sizing() const { return sizing_; }
  const VisionEncoder& encoder() const { return *encoder_; }
  VisionEncoder& encoder() { return *encoder_; }

 private:
  ImageEncoder(const MmprojModel& model, const ImageSizing& sizing) : model_(model), sizing_(sizing) {}

  const MmprojModel& model_;
  ImageSizing sizing_;
  std::unique_ptr<VisionEncoder> encoder_;
};

}  // namespace nm
