// libFuzzer target: arbitrary bytes as a whisper.cpp model file (ggml-*.bin, from memory).
// Parsing and assembly must give a model or a clear Status; a small enough model then
// builds its encoder, cross-attention and decoder graphs and decodes a few tokens on
// zero encoder states, so hostile hyper-parameters, shapes or vocabularies cannot crash
// graph building or decoding.
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "runtime/whisper_decoding.h"
#include "bricks/whisper/whisper_model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto src = nm::parse_whisper_ggml(data, size, "fuzz");
  if (!src.ok()) return 0;
  auto m = nm::WhisperModel::assemble(std::move(src).value());
  if (!m.ok()) return 0;
  const nm::WhisperHparams& hp = m.value()->hparams();
  if (hp.n_audio_state > 64 || hp.n_text_state > 64 || hp.n_audio_layer > 2 || hp.n_text_layer > 2 ||
      hp.n_vocab > 4096) {
    return 0;
  }
  nm::WhisperDecoderParams dp;
  dp.n_beams = 2;
  auto dec = nm::WhisperDecoder::create(m.value(), dp);
  if (!dec.ok()) return 0;
  nm::ThreadPool pool(1);
  std::vector<float> states((size_t)hp.n_audio_ctx * hp.n_text_state, 0.0f);
  if (!dec.value()->set_window(states, pool).ok()) return 0;
  nm::WhisperWindowOptions o;
  o.language_token = m.value()->vocab().lang_begin;
  o.beam_size = 2;
  o.max_tokens = 4;
  std::mt19937_64 rng(1);
  (void)nm::whisper_decode_window(*dec.value(), o, rng, pool);
  return 0;
}
