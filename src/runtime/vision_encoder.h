// VisionEncoder: the runtime's side of the vision brick for one input size at a time —
// runs an MmprojModel's encoder + projector on preprocessed images (planar normalised RGB,
// bricks/vision/preprocess.h) on the brick's device and writes the projected embeddings,
// one n_embd_out row per image token, straight where the caller wants them (a token-ring
// slot): the graph's result node is re-pointed there, nothing is copied on the CPU or on a
// device that imported the memory as a region. Graphs are built once per input size and
// reused; position embeddings for sizes other than the trained one are resampled on the
// CPU once per size. With static_shape, only one input size is accepted (the file's
// image_size unless given; one graph shape, as NPUs need). Not thread-safe: one per session.
#pragma once

#include <map>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "bricks/vision/mmproj.h"
#include "bricks/vision/preprocess.h"
#include "bricks/vision/vision_graph.h"
#include "core/thread_pool.h"
#include "runtime/brick_runner.h"

namespace nm {

struct VisionEncoderParams {
  bool static_shape = true;  // reject inputs of any other size than the static one
  int static_width = 0, static_height = 0;  // the static input size; 0: the file's image_size
  // Placement. encode() writes in place into run.regions (the token ring) also on devices
  // that import memory when a graph is prepared; elsewhere on such a device results are
  // copied out.
  BrickRunParams run;
};

class VisionEncoder {
 public:
  static Result<std::unique_ptr<VisionEncoder>> create(const MmprojModel& model, const VisionEncoderParams& params);

  int n_embd_out() const { return model_.hparams().n_embd_out; }
  // The one accepted input size under static_shape.
  int static_width() const { return params_.static_width; }
  int static_height() const { return params_.static_height; }

  // Encodes one image into `out`, which must hold exactly encoder_tokens(w, h) *
  // n_embd_out floats (token-major).
  Status encode(const EncoderInput& image, ThreadPool& pool, std::span<float> out);
  // The same into a vector sized to fit.
  Status encode(const EncoderInput& image, ThreadPool& pool, std::vector<float>& out);

  // Gives back the prepared graphs (their arenas, resampled position embeddings) and the
  // weights (BrickRunner::release), for on-demand residency; the next encode prepares them again.
  void release() {
    shapes_.clear();
    runner_.release();
  }
  // Bytes of results copied out of the graph instead of written in place.
  size_t bytes_copied_out() const { return bytes_copied_out_; }
  const MmprojModel& model() const { return model_; }
  Device* device() const { return runner_.device(); }

 private:
  struct Shape {
    std::unique_ptr<VisionGraph> meta;  // node ids (its graph moved into exec)
    std::unique_ptr<GraphRunner> exec;
    NodeId out_storage = kInvalidNode;  // the node the result is written to
    std::vector<float> pos;             // position embeddings for this grid
    std::vector<float> fallback;        // the result's memory at prepare (and for copies)
    const void* out_bound = nullptr;
  };
  VisionEncoder(const MmprojModel& model, const VisionEncoderParams& p);
  Status check_size(int width, int height) const;
  Result<Shape*> shape_for(int width, int height);

  const MmprojModel& model_;
  VisionEncoderParams params_;
  BrickRunner runner_;
  std::vector<float> cls_;  // class embedding as f32 (CLIP)
  std::map<std::pair<int, int>, std::unique_ptr<Shape>> shapes_;
  size_t bytes_copied_out_ = 0;
};

}  // namespace nm
