// libespeak-ng wrappers: phonemes for Piper voices and espeak-ng's own voice.
#include "tokenizer/espeak_ng.h"

#include <mutex>

#include "tokenizer/unicode.h"

#if NM_HAVE_ESPEAK
#include <espeak-ng/speak_lib.h>
#endif

namespace nm {
namespace {

constexpr size_t kMaxTextBytes = 1 << 20;  // 1 MiB of text per call
#if NM_HAVE_ESPEAK
// A sentence longer than this many phonemes (a run-on text without punctuation) is cut at
// word boundaries: a voice's encoder is quadratic in its length, and the pieces stream.
constexpr size_t kMaxSentencePhonemes = 400;

void append_split(std::vector<Phonemes>& out, Phonemes s) {
  while (s.size() > kMaxSentencePhonemes) {
    size_t cut = kMaxSentencePhonemes;
    while (cut > kMaxSentencePhonemes / 2 && s[cut - 1] != " ") --cut;
    if (s[cut - 1] != " ") cut = kMaxSentencePhonemes;  // no word boundary near: cut anyway
    out.emplace_back(s.begin(), s.begin() + (long)cut);
    s.erase(s.begin(), s.begin() + (long)cut);
  }
  if (!s.empty()) out.push_back(std::move(s));
}

// The library's state is process-wide: one lock for every call into it.
std::mutex& espeak_mutex() {
  static std::mutex m;
  return m;
}

// Initialises the library once (synchronous mode: audio comes back through the callback).
Result<int> espeak_init_locked() {
  static int rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, nullptr, 0);
  if (rate <= 0) return error(ErrorCode::unsupported, "libespeak-ng could not be initialised (is espeak-ng-data installed?)");
  return rate;
}

Status set_voice_locked(const std::string& voice) {
  if (voice.empty() || voice.size() > 64 || espeak_SetVoiceByName(voice.c_str()) != EE_OK) {
    return error(ErrorCode::invalid_argument, "espeak-ng has no voice '" + voice + "' (espeak-ng --voices lists them)");
  }
  return Status::ok_status();
}

// The punctuation that ended a clause: the last non-space, non-closing character of the
// text espeak consumed for it ('.', '?', '!', ',', ':', ';', or 0 for none, as after '...'). Before the end
// of the text espeak has read one character of the next clause too (`lookahead`): it is
// skipped first.
char clause_terminator(const char* begin, const char* end, bool lookahead) {
  if (lookahead && end > begin) {
    --end;
    while (end > begin && ((unsigned char)*end & 0xC0) == 0x80) --end;  // the whole code point
  }
  while (end > begin) {
    const char c = end[-1];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '"' || c == '\'' || c == ')' || c == ']') {
      --end;
      continue;
    }
    if (c == '.' && end - begin >= 2 && end[-2] == '.') return 0;  // an ellipsis pauses, it ends nothing
    return (c == '.' || c == '?' || c == '!' || c == ',' || c == ':' || c == ';') ? c : 0;
  }
  return 0;
}

int synth_callback(short* wav, int n, espeak_EVENT* events) {
  if (wav && n > 0 && events) {
    auto* out = static_cast<std::vector<float>*>(events->user_data);
    for (int i = 0; i < n; ++i) out->push_back((float)wav[i] / 32768.0f);
  }
  return 0;  // continue
}
#endif

// espeak reads text up to a NUL and takes invalid UTF-8 as Latin-1: it gets clean UTF-8.
Result<std::string> clean_text(const std::string& text) {
  if (text.size() > kMaxTextBytes) return error(ErrorCode::invalid_argument, "text longer than 1 MiB; speak it in parts");
  std::string clean = utf8_sanitize(text);
  for (char& c : clean) {
    if (c == '\0') c = ' ';
  }
  return clean;
}

}  // namespace

bool espeak_available() { return NM_HAVE_ESPEAK != 0; }

Result<std::vector<Phonemes>> espeak_phonemize(const std::string& text, const std::string& voice) {
  NM_ASSIGN_OR_RETURN(std::string clean, clean_text(text));
#if NM_HAVE_ESPEAK
  std::lock_guard<std::mutex> lock(espeak_mutex());
  NM_RETURN_IF_ERROR(espeak_init_locked().status());
  NM_RETURN_IF_ERROR(set_voice_locked(voice));
  std::vector<Phonemes> sentences;
  Phonemes* cur = nullptr;
  const char* p = clean.c_str();
  const void* ptr = p;
  while (ptr != nullptr) {
    const char* before = static_cast<const char*>(ptr);
    const char* ipa = espeak_TextToPhonemes(&ptr, espeakCHARS_UTF8, espeakPHONEMES_IPA);
    const char* after = ptr ? static_cast<const char*>(ptr) : clean.c_str() + clean.size();
    const std::string clause = ipa ? ipa : "";
    const char term = clause_terminator(before, after, ptr != nullptr);
    if (clause.empty() && term == 0) continue;
    if (!cur) {
      sentences.emplace_back();
      cur = &sentences.back();
    }
    for (const Utf8Unit& u : utf8_units(clause)) {
      if (u.cp == k_invalid_codepoint || u.cp == '\n') continue;
      cur->push_back(utf8_encode(u.cp));
    }
    if (term) {
      cur->push_back(std::string(1, term));
      if (term == ',' || term == ':' || term == ';') cur->push_back(" ");
    }
    if (term == '.' || term == '?' || term == '!') cur = nullptr;
  }
  // A sentence of nothing but punctuation says nothing.
  std::vector<Phonemes> out;
  for (Phonemes& s : sentences) {
    bool speech = false;
    for (const std::string& ph : s) speech |= ph != " " && ph != "." && ph != "," && ph != "?" && ph != "!" && ph != ":" && ph != ";";
    if (speech) append_split(out, std::move(s));
  }
  return out;
#else
  (void)voice;
  (void)clean;
  return error(ErrorCode::unsupported, "this build has no libespeak-ng (apt install libespeak-ng-dev and rebuild)");
#endif
}

std::vector<int32_t> phoneme_ids(const Phonemes& sentence, const std::map<std::string, int>& id_map,
                                 std::vector<std::string>* missing) {
  std::vector<int32_t> ids;
  const auto find = [&](const std::string& s) { auto it = id_map.find(s); return it == id_map.end() ? -1 : it->second; };
  const int bos = find("^"), eos = find("$"), pad = find("_");
  if (bos >= 0) ids.push_back(bos);
  if (pad >= 0) ids.push_back(pad);
  for (const std::string& ph : sentence) {
    const int id = find(ph);
    if (id < 0) {
      if (missing) missing->push_back(ph);
      continue;
    }
    ids.push_back(id);
    if (pad >= 0) ids.push_back(pad);
  }
  if (eos >= 0) ids.push_back(eos);
  return ids;
}

Result<EspeakAudio> espeak_speak(const std::string& text, const std::string& voice, int rate) {
  NM_ASSIGN_OR_RETURN(std::string clean, clean_text(text));
#if NM_HAVE_ESPEAK
  std::lock_guard<std::mutex> lock(espeak_mutex());
  NM_ASSIGN_OR_RETURN(int sr, espeak_init_locked());
  NM_RETURN_IF_ERROR(set_voice_locked(voice));
  if (rate > 0 && espeak_SetParameter(espeakRATE, rate, 0) != EE_OK) {
    return error(ErrorCode::invalid_argument, "espeak-ng refused the rate " + std::to_string(rate));
  }
  EspeakAudio a;
  a.sample_rate = sr;
  espeak_SetSynthCallback(synth_callback);
  const espeak_ERROR e = espeak_Synth(clean.c_str(), clean.size() + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8,
                                      nullptr, &a.samples);
  if (e != EE_OK) return error(ErrorCode::internal, "espeak-ng could not speak the text (error " + std::to_string((int)e) + ")");
  return a;
#else
  (void)voice;
  (void)rate;
  (void)clean;
  return error(ErrorCode::unsupported, "this build has no libespeak-ng (apt install libespeak-ng-dev and rebuild)");
#endif
}

}  // namespace nm
