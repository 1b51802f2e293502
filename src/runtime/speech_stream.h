// SpeechStream: text that arrives in pieces (an LLM's answer as it is generated) spoken
// sentence by sentence, so speech starts before the text ends. push() only cuts complete
// sentences off the text and queues them; a worker thread of its own phonemises, synthesises
// (a VITS voice through SpeechSynth, or espeak-ng's own voice) and hands each sentence's
// samples to the sink in order. finish() speaks what is left and waits; drain() does the
// same but keeps the stream open for the next text (one stream for many answers, so the
// voice's graphs and packed weights are prepared once).
// Thread-safety: push(), drain(), begin_turn() and finish() from one thread; the sink is
// called on the worker.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>

#include "bricks/tts/vits_model.h"
#include "runtime/speech_synth.h"

namespace nm {

struct SpeechStreamParams {
  const VitsModel* voice = nullptr;  // null: espeak-ng's own voice
  std::string espeak_voice;          // "" : the voice file's (or en-us)
  SpeechParams synth;
  int n_threads = 1;
  double sentence_pause_s = 0.2;
};

class SpeechStream {
 public:
  // Samples of one sentence at `sample_rate` Hz; an error stops the stream.
  using Sink = std::function<Status(std::span<const float> samples, int sample_rate)>;

  static Result<std::unique_ptr<SpeechStream>> create(const SpeechStreamParams& params, Sink sink);
  ~SpeechStream();
  SpeechStream(const SpeechStream&) = delete;
  SpeechStream& operator=(const SpeechStream&) = delete;

  void push(std::string_view text);
  // Speaks the rest, waits for the worker; the first error of the stream, if any.
  Status finish();
  // Speaks the rest and waits until the sink has had it all; the stream stays open.
  Status drain();
  // Restarts the clock of first_audio_ms() and the voice's noise (a new answer begins: each
  // answer is spoken as by a fresh stream). Call it when the stream is idle (after drain()).
  void begin_turn();

  // Call these after drain() or finish().
  int sentences_spoken() const { return n_spoken_; }
  // Milliseconds from create() (or the last begin_turn()) to the first samples handed to
  // the sink since then (< 0: none yet).
  double first_audio_ms() const { return first_audio_ms_; }
  // Time the worker spent phonemising and synthesising, in all.
  double synth_ms() const { return synth_ms_; }

 private:
  explicit SpeechStream(const SpeechStreamParams& p, Sink sink);
  void worker();

  SpeechStreamParams p_;
  Sink sink_;
  std::unique_ptr<SpeechSynth> synth_;
  std::string pending_;  // text after the last complete sentence (push's thread only)
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;  // drain() waits on it for the worker to be idle
  std::deque<std::string> queue_;
  bool busy_ = false;  // the worker holds a sentence
  bool done_ = false;
  Status error_;
  std::thread thread_;
  std::chrono::steady_clock::time_point t0_;
  double first_audio_ms_ = -1;
  double synth_ms_ = 0;
  int n_spoken_ = 0;
  int turn_spoken_ = 0;  // since begin_turn(): the first sentence of an answer gets no pause
};

// Where the text up to the end of its last complete sentence ends: after a '.', '!', '?' or
// newline that whitespace follows (0 when there is none yet).
size_t complete_sentences_end(std::string_view text);

}  // namespace nm
