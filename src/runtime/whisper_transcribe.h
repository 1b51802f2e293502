// WhisperTranscriber: speech to text for audio of any length, as openai/whisper
// transcribe.py does it: the log-mel of the whole signal, then 30 s windows; each window is
// encoded, its language detected (first window, when asked), decoded at temperature 0 and,
// when the result looks like a repetition loop (token entropy of the last 32 < 2.4, as
// whisper.cpp) or is unlikely (mean log-probability < -1), again at 0.2, 0.4, ... 1.0;
// windows that are probably silence (no-speech probability > 0.6 and unlikely text) are
// skipped. With timestamps the next window starts at the last complete segment's end (the
// usual overlap: a cut word is decoded again in the next window); earlier text is the next
// window's prompt. Segments are reported as they are decoded.
// Not thread-safe: one transcriber per stream; the model is shared.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backend/device_registry.h"
#include "bricks/whisper/whisper_bricks.h"
#include "runtime/whisper_decoding.h"

namespace nm {

struct WhisperTranscribeOptions {
  std::string language = "auto";  // a code ("en", "de", ...) or "auto" (detect); English-only models: "en"
  bool translate = false;         // into English
  bool timestamps = true;         // decode with timestamp tokens (segments); false: one segment per window
  int beam_size = 5;              // 1: greedy
  int best_of = 5;
  std::vector<float> temperatures = {0.0f, 0.2f, 0.4f, 0.6f, 0.8f, 1.0f};
  float entropy_threshold = 2.4f;
  float logprob_threshold = -1.0f;
  float no_speech_threshold = 0.6f;
  bool condition_on_previous_text = true;
  bool suppress_non_speech = true;
  std::string initial_prompt;     // text that conditions the first window
  uint64_t seed = 0;              // sampling at temperature > 0
  // Encoder positions per window (whisper.cpp's audio_ctx): 0 = all (1500: the full 30 s
  // window, as Whisper was trained and as faster-whisper and whisper.cpp run by default);
  // N > 0: the window's first 2N mel frames (N <= 1500); kAudioCtxFit: fitted to each window's audio
  // (whisper_fit_audio_ctx). Fewer positions encode faster and make every decode step's
  // cross-attention shorter, but the encoder then sees less of the padding it was trained
  // with: not the reference computation (tests/python/test_whisper_real_slow.py measures
  // the word error rate both ways).
  static constexpr int kAudioCtxFit = -1;
  int audio_ctx = 0;
  // Called for each segment as soon as its window is decoded; returning false stops the
  // transcription after this window (what was decoded so far is the result).
  std::function<bool(const struct WhisperSegment&)> on_segment;
};

struct WhisperSegment {
  double t0 = 0.0, t1 = 0.0;      // seconds from the start of the audio
  std::string text;
  std::vector<int32_t> tokens;    // text and timestamp tokens
  double avg_logprob = 0.0;
  float no_speech_prob = 0.0f;
  float temperature = 0.0f;
};

struct WhisperTranscript {
  std::string language;           // code
  float language_prob = 1.0f;
  std::vector<WhisperSegment> segments;
  // Work done, for -v and benchmarks.
  int n_windows = 0, n_fallbacks = 0, n_skipped = 0, n_tokens = 0;
  double mel_ms = 0, encode_ms = 0, decode_ms = 0;

  std::string text() const;  // the segments' text joined
};

// Checks options against a model: language known (and "en" for English-only models),
// beam and best-of sizes 1..16, temperatures in [0, 2], thresholds finite, audio_ctx
// kAudioCtxFit or 0..n_audio_ctx.
Status whisper_check_options(const WhisperModel& model, const WhisperTranscribeOptions& o);

// Encoder positions that hold a window of `content_frames` mel frames (10 ms each) and
// about a second of the silence after them, rounded up to a multiple of 64; at most
// n_audio_ctx (the whole window).
int whisper_fit_audio_ctx(int64_t content_frames, int n_audio_ctx);

// Where the transcriber's two bricks run.
struct WhisperPlacement {
  // The --device text (runtime/device_placement.h): "" (both on the CPU executor on the
  // caller's pool), "NAME" (both there) or "audio=NAME,asr=NAME" (the encoder is the brick
  // worth an accelerator; the decoder's small steps stay on the CPU best).
  std::string devices;
  Isa isa = best_isa();  // kernels of the CPU executor
  bool pack_weights = true;  // quantised matrices from packed CPU copies (BrickRunParams::packed)
};

class WhisperTranscriber {
 public:
  // max_sequences: the most sequences decoded side by side (max of beam_size and best_of).
  static Result<std::unique_ptr<WhisperTranscriber>> create(std::shared_ptr<const WhisperModel> model,
                                                            const WhisperPlacement& placement = {},
                                                            int max_sequences = 5);
  // samples: 16 kHz mono.
  Result<WhisperTranscript> transcribe(std::span<const float> samples, const WhisperTranscribeOptions& opt,
                                       ThreadPool& pool);
  const WhisperModel& model() const { return *model_; }
  // The two bricks this transcriber runs (for placement, costs and traces).
  const WhisperAudioBrick& audio_brick() const { return *audio_; }
  const WhisperAsrBrick& asr_brick() const { return *asr_; }
  // "cpu", or the device a brick was placed on.
  std::string audio_device_name() const { return placement_name(audio_device_); }
  std::string asr_device_name() const { return placement_name(asr_device_); }

 private:
  WhisperTranscriber() = default;
  std::shared_ptr<const WhisperModel> model_;
  std::unique_ptr<WhisperAudioBrick> audio_;
  std::unique_ptr<WhisperAsrBrick> asr_;
  std::unique_ptr<DeviceRegistry> devices_;  // only when a device was named
  Device* audio_device_ = nullptr;           // nullptr: the CPU executor on the caller's pool
  Device* asr_device_ = nullptr;
  std::unique_ptr<WhisperEncoder> encoder_;
  std::unique_ptr<WhisperDecoder> decoder_;
};

}  // namespace nm
