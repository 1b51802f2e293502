// libFuzzer target: arbitrary bytes as an mmproj GGUF (from memory). Loading must give a
// model or a clear Status; a small enough model then runs the whole vision brick (plan,
// tiling, encoder, projector, merge) on a tiny image, so hostile hyper-parameters,
// pinpoints or merge settings cannot crash preprocessing or graph building.
#include <cstddef>
#include <cstdint>
#include <memory>

#include <vector>

#include "bricks/vision/mmproj.h"
#include "core/gguf_reader.h"
#include "runtime/image_encoder.h"

namespace {

// Bounds the work and memory of one input (attention is quadratic in the tokens).
bool small(const nm::VisionHparams& hp) {
  if (hp.image_size > 64 || hp.n_embd > 128 || hp.n_ff > 512 || hp.n_layer > 4 || hp.n_embd_out > 256) return false;
  if (hp.grid_pinpoints.size() > 8 || hp.preproc_image_size > 256) return false;
  for (const auto& [w, h] : hp.grid_pinpoints)
    if (w > 256 || h > 256) return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto f = nm::GgufFile::from_memory(data, size, nullptr);
  if (!f.ok()) return 0;
  auto m = nm::MmprojModel::from_gguf(std::make_shared<const nm::GgufFile>(std::move(f).value()));
  if (!m.ok()) return 0;
  const nm::MmprojModel& model = *m.value();
  (void)model.check_llm_width(64);
  if (!small(model.hparams())) return 0;
  auto e = nm::ImageEncoder::create(model, {});
  if (!e.ok()) return 0;
  nm::Image img;
  img.width = 37;
  img.height = 13;
  img.rgb.assign((size_t)img.width * img.height * 3, 0);
  for (size_t i = 0; i < img.rgb.size(); ++i) img.rgb[i] = (uint8_t)(i * 31 + (i < size ? data[i] : 0));
  nm::ThreadPool pool(1);
  auto plan = e.value()->plan(img.width, img.height);
  if (!plan.ok()) return 0;
  // A slot sized from the plan, as the pipeline's ring is.
  std::vector<float> out((size_t)plan->n_tokens * e.value()->n_embd_out());
  (void)e.value()->encode(img, plan.value(), pool, out);
  // Token counts are known before encoding and bounded by the ring's sizing.
  auto most = nm::max_image_tokens(model, {});
  if (most.ok() && plan->n_tokens > most.value()) __builtin_trap();
  return 0;
}
