// Speech in the server (--asr WHISPER): the input_audio parts of a chat request are decoded
// (nm_audio_decode, with the request's length limit) and transcribed with one Whisper model
// (nm_asr_*) on the HTTP thread that received the request, before it queues for a slot, so
// the generation loop never waits for speech. The transcripts join their messages' text; the
// audio and asr bricks' times go with the request to its answer and /metrics. One nm_asr
// serves one transcription at a time (its contract), so requests take turns on a mutex.
// Thread-safe.
#pragma once

#include <mutex>
#include <string>

#include "nanomind/nanomind.h"
#include "server/api_error.h"
#include "server/request.h"

namespace nm::server {

class SpeechRecogniser {
 public:
  // asr: loaded by the caller, outlives this object.
  explicit SpeechRecogniser(nm_asr* asr);

  // Transcribes every audio part of `request` and joins the transcripts into its messages
  // (request.speech records them with the bricks' times). Audio that cannot be decoded, is
  // longer than limits.max_audio_seconds or holds no speech is a 400 naming the part.
  std::optional<ApiError> transcribe(InferenceRequest& request, const RequestLimits& limits);
  // The model, in one line (for /v1/models).
  std::string describe() const { return nm_asr_describe(asr_); }

 private:
  nm_asr* asr_;
  std::string audio_device_, asr_device_;
  std::mutex mu_;
};

}  // namespace nm::server
