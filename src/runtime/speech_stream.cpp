// SpeechStream: sentence cutting on the caller's thread, speech on a worker.
#include "runtime/speech_stream.h"

#include <algorithm>
#include <vector>

#include "core/thread_pool.h"
#include "tokenizer/espeak_ng.h"

namespace nm {

size_t complete_sentences_end(std::string_view text) {
  for (size_t i = text.size(); i-- > 0;) {
    const char c = text[i];
    if (c == '\n') return i + 1;
    if ((c == '.' || c == '!' || c == '?') && i + 1 < text.size()) {
      const char n = text[i + 1];
      if (n == ' ' || n == '\n' || n == '\t' || n == '\r') return i + 1;
    }
  }
  return 0;
}

SpeechStream::SpeechStream(const SpeechStreamParams& p, Sink sink)
    : p_(p), sink_(std::move(sink)), t0_(std::chrono::steady_clock::now()) {}

Result<std::unique_ptr<SpeechStream>> SpeechStream::create(const SpeechStreamParams& params, Sink sink) {
  std::unique_ptr<SpeechStream> s(new SpeechStream(params, std::move(sink)));
  if (params.voice) {
    NM_ASSIGN_OR_RETURN(s->synth_, SpeechSynth::create(*params.voice, params.synth));
    if (s->p_.espeak_voice.empty()) s->p_.espeak_voice = params.voice->voice().espeak_voice;
  } else if (!espeak_available()) {
    return error(ErrorCode::unsupported, "this build has no libespeak-ng: no voice to speak with");
  }
  if (s->p_.espeak_voice.empty()) s->p_.espeak_voice = "en-us";
  s->thread_ = std::thread([raw = s.get()] { raw->worker(); });
  return s;
}

SpeechStream::~SpeechStream() { (void)finish(); }

void SpeechStream::push(std::string_view text) {
  pending_.append(text);
  const size_t end = complete_sentences_end(pending_);
  if (end == 0) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(pending_.substr(0, end));
  }
  pending_.erase(0, end);
  cv_.notify_one();
}

Status SpeechStream::finish() {
  if (!thread_.joinable()) return error_;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!pending_.empty()) queue_.push_back(std::move(pending_));
    pending_.clear();
    done_ = true;
  }
  cv_.notify_one();
  thread_.join();
  return error_;
}

Status SpeechStream::drain() {
  if (!thread_.joinable()) return error_;
  std::unique_lock<std::mutex> lock(mu_);
  if (!pending_.empty()) queue_.push_back(std::move(pending_));
  pending_.clear();
  cv_.notify_one();
  idle_cv_.wait(lock, [&] { return queue_.empty() && !busy_; });
  return error_;
}

void SpeechStream::begin_turn() {
  std::lock_guard<std::mutex> lock(mu_);
  if (synth_) synth_->reseed();  // the worker is idle between answers (drain)
  t0_ = std::chrono::steady_clock::now();
  first_audio_ms_ = -1;
  turn_spoken_ = 0;
}

void SpeechStream::worker() {
  ThreadPool pool(std::max(1, p_.n_threads));
  for (;;) {
    std::string text;
    {
      std::unique_lock<std::mutex> lock(mu_);
      busy_ = false;
      idle_cv_.notify_all();
      cv_.wait(lock, [&] { return done_ || !queue_.empty(); });
      if (queue_.empty()) return;
      text = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
      if (!error_.ok()) continue;  // drain the queue after an error
    }
    const auto t_synth = std::chrono::steady_clock::now();
    Status s = Status::ok_status();
    if (synth_) {
      auto sentences = espeak_phonemize(text, p_.espeak_voice);
      if (!sentences.ok()) s = sentences.status();
      const int rate = p_.voice ? p_.voice->voice().sample_rate : 22050;
      std::vector<float> pcm;
      for (size_t i = 0; s.ok() && sentences.ok() && i < sentences->size(); ++i) {
        pcm.clear();
        if (turn_spoken_ > 0) pcm.assign((size_t)(p_.sentence_pause_s * rate), 0.0f);
        s = synth_->synthesize(phoneme_ids((*sentences)[i], p_.voice->voice().phoneme_ids), pool, pcm);
        if (s.ok()) s = sink_(pcm, rate);
        if (s.ok() && first_audio_ms_ < 0) {
          first_audio_ms_ = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0_).count();
        }
        if (s.ok()) {
          ++n_spoken_;
          ++turn_spoken_;
        }
      }
    } else {
      auto a = espeak_speak(text, p_.espeak_voice);
      if (!a.ok()) s = a.status();
      else if (!a->samples.empty()) {
        s = sink_(a->samples, a->sample_rate);
        if (s.ok() && first_audio_ms_ < 0) {
          first_audio_ms_ = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0_).count();
        }
        if (s.ok()) {
          ++n_spoken_;
          ++turn_spoken_;
        }
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    synth_ms_ += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_synth).count();
    if (!s.ok()) error_ = std::move(s);
  }
}

}  // namespace nm
