#include "server/speech.h"

#include <chrono>
#include <memory>
#include <string>

namespace nm::server {
namespace {

constexpr int kWhisperRate = 16000;  // decoded straight to Whisper's rate: no second resampling

// nm_asr_describe ends with "; encoder on X, decoder on Y" when the bricks were placed
// (--device audio=...,asr=...); otherwise both run on the CPU.
void placed_devices(const std::string& description, std::string& audio, std::string& asr) {
  audio = asr = "cpu";
  const size_t e = description.rfind("; encoder on "), d = description.rfind(", decoder on ");
  if (e == std::string::npos || d == std::string::npos || d < e) return;
  audio = description.substr(e + 13, d - (e + 13));
  asr = description.substr(d + 13);
}

std::string trimmed(std::string s) {
  const size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

SpeechRecogniser::SpeechRecogniser(nm_asr* asr) : asr_(asr) {
  placed_devices(nm_asr_describe(asr), audio_device_, asr_device_);
}

std::optional<ApiError> SpeechRecogniser::transcribe(InferenceRequest& request, const RequestLimits& limits) {
  if (request.audios.empty()) return std::nullopt;
  SpeechIn& sp = request.speech;
  sp.audio_device = audio_device_;
  sp.asr_device = asr_device_;
  std::lock_guard<std::mutex> lock(mu_);
  for (AudioIn& a : request.audios) {
    const auto t0 = std::chrono::steady_clock::now();
    float* raw = nullptr;
    int64_t n = 0;
    char err[512] = "";
    const nm_status st =
        nm_audio_decode(a.bytes.data(), a.bytes.size(), kWhisperRate, limits.max_audio_seconds, &raw, &n, err, sizeof err);
    std::unique_ptr<float, decltype(&nm_audio_free)> pcm(raw, nm_audio_free);
    if (st != NM_OK) {
      if (st == NM_ERR_OUT_OF_MEMORY || st == NM_ERR_INTERNAL) return ApiError{500, err, "server_error", {}, {}};
      return bad_request(std::string("the audio cannot be used: ") + err, a.param + ".input_audio.data");
    }
    sp.decode_audio_ms += ms_since(t0);
    std::vector<uint8_t>().swap(a.bytes);  // the encoded bytes are not needed any more
    // Whisper's defaults, as `nanomind run --audio` and `nanomind transcribe` use them.
    const nm_status ts = nm_asr_transcribe_pcm(asr_, pcm.get(), n, 1, kWhisperRate, nullptr, nullptr, nullptr);
    if (ts == NM_ERR_INVALID_ARGUMENT || ts == NM_ERR_INVALID_FILE) {
      return bad_request(std::string("the audio cannot be transcribed: ") + nm_asr_last_error(asr_), a.param);
    }
    if (ts != NM_OK) {
      return ApiError{500, std::string("speech recognition failed: ") + nm_asr_last_error(asr_), "server_error", {}, {}};
    }
    nm_asr_timings t{};
    nm_asr_get_timings(asr_, &t);
    sp.audio_seconds += (double)n / kWhisperRate;
    sp.mel_ms += t.mel_ms;
    sp.encode_ms += t.encode_ms;
    sp.asr_ms += t.decode_ms;
    sp.n_asr_tokens += t.n_tokens;
    std::string text((size_t)std::max(0, nm_asr_get_text(asr_, nullptr, 0)) + 1, '\0');
    nm_asr_get_text(asr_, text.data(), (int32_t)text.size());
    text = trimmed(text.c_str());
    if (text.empty()) {
      return bad_request("no speech was heard in the audio (the recogniser wrote nothing)", a.param + ".input_audio");
    }
    sp.transcripts.push_back(std::move(text));
  }
  join_transcripts(request, sp.transcripts);
  return std::nullopt;
}

}  // namespace nm::server
