// Speech in, end to end: Whisper transcription of a recording with optional voice activity
// detection (only the speech spans are decoded, each with its own times; silence costs
// the VAD only), and of a live microphone, where the VAD cuts utterances and each is
// transcribed as soon as it ends, so the assistant stays idle while nobody speaks.
// Not thread-safe: one stream per call; stop a live stream from on_segment (return false).
#pragma once

#include <chrono>
#include <functional>
#include <span>
#include <string>

#include "bricks/vad/voice_activity.h"
#include "runtime/whisper_transcribe.h"
#include "core/audio_capture.h"

namespace nm {

// One utterance of live speech, transcribed as a whole.
struct Utterance {
  double t0 = 0, t1 = 0;  // seconds from the start of the capture
  std::string text;       // the transcript without surrounding blanks ("" when nothing was heard)
  WhisperTranscript transcript;
  std::chrono::steady_clock::time_point ended;  // when the detector closed it (before transcription)
  double vad_ms = 0;       // detector time since the previous utterance
  double vad_audio_s = 0;  // audio it looked at in that time
};

struct SpeechOptions {
  WhisperTranscribeOptions whisper;
  SpeechSegmenterParams segmenter;
  double merge_gap_s = 1.0;  // recordings: spans closer than this are transcribed together
  // Live: silence that ends an utterance (pauses inside a sentence are shorter).
  int utterance_silence_ms = 600;
  double max_seconds = 0.0;  // live: stop after this much audio (0: until stopped)
  // Live: each utterance once transcribed (after its segments went to on_segment); false
  // stops the capture. Runs on the reading thread: audio that arrives meanwhile waits in
  // the source (a microphone's overruns are recovered).
  std::function<bool(const Utterance&)> on_utterance;
};

// Transcribes 16 kHz audio; with a detector, only its speech spans.
Result<WhisperTranscript> transcribe_speech(WhisperTranscriber& asr, std::span<const float> samples,
                                            const SpeechOptions& opt, VoiceActivityDetector* vad, ThreadPool& pool);

// Where a live transcription gets its transcriber for each utterance: one held throughout,
// or (the assistant's on-demand power mode) one loaded when an utterance ends and given back
// as soon as it is transcribed, so that only the detector stays resident between utterances.
struct TranscriberLease {
  std::function<Result<WhisperTranscriber*>()> acquire;  // before each utterance's transcription
  std::function<void()> release;                         // right after it (optional)
};

// Reads the microphone until on_segment returns false, the source ends or fails; each
// utterance (a speech span, at most 28 s) is transcribed when it ends. Segment times count
// from the start of the capture. `done` (optional) receives totals for -v.
Status transcribe_live(const TranscriberLease& asr, AudioSource& mic, VoiceActivityDetector& vad,
                       const SpeechOptions& opt, ThreadPool& pool,
                       const std::function<bool(const WhisperSegment&)>& on_segment, WhisperTranscript* done = nullptr);
// The same with one transcriber held throughout.
Status transcribe_live(WhisperTranscriber& asr, AudioSource& mic, VoiceActivityDetector& vad, const SpeechOptions& opt,
                       ThreadPool& pool, const std::function<bool(const WhisperSegment&)>& on_segment,
                       WhisperTranscript* done = nullptr);

}  // namespace nm
