// libespeak-ng (Debian's libespeak-ng1) for speech: text -> IPA phonemes per sentence, as
// Piper voices were trained on them, mapped to a voice's ids; and espeak-ng's own voice,
// the zero-download fallback `tts`. The library keeps process-wide state and is not
// thread-safe: every call here takes one process-wide lock (the library's, not ours to
// remove). Builds without libespeak-ng (cross builds) return `unsupported` from each call.
//
// Phonemes follow Piper's published rules (piper-phonemize): each clause's IPA from
// espeak_TextToPhonemes, its punctuation appended ('.', '?', '!' end a sentence; ',', ':',
// ';' are followed by a space), one phoneme per code point; ids are BOS '^', pad '_', then
// each phoneme followed by a pad, then EOS '$', phonemes the voice lacks left out.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace nm {

using Phonemes = std::vector<std::string>;  // one code point (UTF-8) each

bool espeak_available();

// Sentences of `text` as phonemes, in espeak voice `voice` ("en-us"). Empty text (or text
// espeak says nothing for) gives no sentences; a sentence of more than 400 phonemes is cut
// into pieces at word boundaries.
Result<std::vector<Phonemes>> espeak_phonemize(const std::string& text, const std::string& voice);

// Piper's id sequence for one sentence; `missing` (optional) collects phonemes not in the map.
std::vector<int32_t> phoneme_ids(const Phonemes& sentence, const std::map<std::string, int>& id_map,
                                 std::vector<std::string>* missing = nullptr);

struct EspeakAudio {
  int sample_rate = 0;
  std::vector<float> samples;  // mono, [-1, 1]
};
// espeak-ng's own voice: `text` spoken in `voice`, `rate` words per minute (0: default).
Result<EspeakAudio> espeak_speak(const std::string& text, const std::string& voice, int rate = 0);

}  // namespace nm
