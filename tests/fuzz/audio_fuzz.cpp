// libFuzzer target: arbitrary bytes as a WAV file (RIFF/RIFX/RF64 containers: the WAV path
// of libsndfile and of NanoMind's streaming, mixing and resampling), decoded to 16 kHz
// mono. Decoding must give audio or a clear Status; the first seconds of decoded audio
// then go through Whisper's log-mel front end. Other containers are skipped so that the
// campaign stays on the WAV path (libsndfile's other decoders are not ours to fuzz).
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "bricks/whisper/log_mel.h"
#include "core/audio.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 12 || (std::memcmp(data, "RIFF", 4) != 0 && std::memcmp(data, "RIFX", 4) != 0 &&
                    std::memcmp(data, "RF64", 4) != 0)) {
    return 0;
  }
  auto a = nm::decode_audio(data, size, nm::kWhisperSampleRate, "fuzz");
  if (!a.ok()) return 0;
  const size_t n = std::min<size_t>(a->samples.size(), 2 * nm::kWhisperSampleRate);
  static const nm::MelFilters filters = nm::slaney_mel_filters(80);
  (void)nm::log_mel_spectrogram({a->samples.data(), n}, filters);
  return 0;
}
