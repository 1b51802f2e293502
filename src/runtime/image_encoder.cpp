#include "runtime/image_encoder.h"

#include <chrono>
#include <string>

namespace nm {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

}  // namespace

Result<std::unique_ptr<ImageEncoder>> ImageEncoder::create(const MmprojModel& model, const ImageEncoderParams& params) {
  const ImageSizing& s = params.sizing;
  if (s.is_static() && (s.static_width <= 0 || s.static_height <= 0)) {
    return error(ErrorCode::invalid_argument, "the static image size needs both a width and a height");
  }
  std::unique_ptr<ImageEncoder> e(new ImageEncoder(model, s));
  VisionEncoderParams vp;
  vp.static_shape = true;  // every plan feeds one input size
  vp.static_width = s.static_width;
  vp.static_height = s.static_height;
  vp.run = params.run;
  NM_ASSIGN_OR_RETURN(e->encoder_, VisionEncoder::create(model, vp));
  return e;
}

Result<ImagePlan> ImageEncoder::plan(int width, int height) const { return plan_image(model_, width, height, sizing_); }

Status ImageEncoder::encode(const Image& image, const ImagePlan& plan, ThreadPool& pool, std::span<float> out,
                            ImageTimings* timings) {
  const auto t0 = Clock::now();
  const size_t E = (size_t)n_embd_out(), tile_floats = (size_t)plan.tile_tokens * E;
  if (out.size() != (size_t)plan.n_tokens * E) {
    return error(ErrorCode::internal, "image output holds " + std::to_string(out.size()) + " floats, the plan " +
                                          std::to_string(plan.n_tokens) + " x " + std::to_string(E));
  }
  NM_ASSIGN_OR_RETURN(std::vector<Image> tiles, image_tiles(model_, image, plan));
  if ((int)tiles.size() != plan.n_encodes) return error(ErrorCode::internal, "the image was cut into an unplanned number of tiles");
  std::vector<EncoderInput> inputs;
  inputs.reserve(tiles.size());
  for (const Image& t : tiles) inputs.push_back(normalize_image(t, model_.hparams().norm));
  tiles.clear();
  const double pre_ms = ms_since(t0);
  const auto t1 = Clock::now();
  // Tiles whose rows lie in place are encoded straight into `out`; the others (anyres
  // grid tiles that are cropped and interleaved) into their own buffers, merged after.
  std::vector<std::vector<float>> merged(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const int row = plan.tile_row((int)i);
    if (row >= 0) {
      NM_RETURN_IF_ERROR(encoder_->encode(inputs[i], pool, out.subspan((size_t)row * E, tile_floats)));
    } else {
      NM_RETURN_IF_ERROR(encoder_->encode(inputs[i], pool, merged[i]));
    }
  }
  NM_RETURN_IF_ERROR(finish_image_embeddings(model_, plan, merged, out));
  if (timings) {
    timings->preprocess_ms += pre_ms;
    timings->encode_ms += ms_since(t1);
  }
  return Status();
}

}  // namespace nm
