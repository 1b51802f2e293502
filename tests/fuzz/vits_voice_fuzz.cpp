// libFuzzer target: arbitrary bytes as a voice GGUF (tools/piper_to_gguf.py's layout, from
// memory). Loading must give a voice or a clear Status; a small enough voice then speaks
// a few phoneme ids through both graphs, so hostile hyper-parameters (dilations, upsample
// rates, bins, phoneme maps) cannot crash graph building or the kernels.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "bricks/tts/vits_model.h"
#include "core/gguf_reader.h"
#include "runtime/speech_synth.h"

namespace {

// Bounds the work of one input.
bool small(const nm::VitsHparams& h) {
  return h.hidden <= 64 && h.filter <= 128 && h.inter <= 32 && h.n_layers <= 3 && h.dp_filter <= 64 &&
         h.flow_n <= 4 && h.flow_wn_layers <= 4 && h.dec_initial <= 64 && h.hop() <= 64 && h.dp_flow_ids.size() <= 4;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto f = nm::GgufFile::from_memory(data, size, nullptr);
  if (!f.ok()) return 0;
  auto m = nm::VitsModel::from_gguf(std::make_shared<const nm::GgufFile>(std::move(f).value()));
  if (!m.ok()) return 0;
  const nm::VitsModel& model = *m.value();
  (void)model.description();
  if (!small(model.hparams())) return 0;
  nm::SpeechParams p;
  p.noise_scale = 0.0f;
  p.noise_w = 0.0f;
  p.max_frames = 64;
  auto s = nm::SpeechSynth::create(model, p);
  if (!s.ok()) return 0;
  nm::ThreadPool pool(1);
  std::vector<int32_t> ids;
  for (size_t i = 0; i < 5; ++i) ids.push_back((int32_t)((i < size ? data[i] : 0) % model.hparams().n_vocab));
  std::vector<float> out;
  (void)s.value()->synthesize(ids, pool, out);
  return 0;
}
