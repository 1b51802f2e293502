#include "runtime/speech_input.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

namespace nm {
namespace {

std::string trimmed(const std::string& text) {
  const size_t b = text.find_first_not_of(" \t\n"), e = text.find_last_not_of(" \t\n");
  return b == std::string::npos ? std::string() : text.substr(b, e - b + 1);
}

void add_totals(WhisperTranscript& to, const WhisperTranscript& from) {
  if (to.language.empty()) {
    to.language = from.language;
    to.language_prob = from.language_prob;
  }
  to.n_windows += from.n_windows;
  to.n_fallbacks += from.n_fallbacks;
  to.n_skipped += from.n_skipped;
  to.n_tokens += from.n_tokens;
  to.mel_ms += from.mel_ms;
  to.encode_ms += from.encode_ms;
  to.decode_ms += from.decode_ms;
}

// Transcribes samples [begin, end) with times offset to the whole signal.
Status transcribe_span(WhisperTranscriber& asr, std::span<const float> samples, int64_t begin, int64_t end,
                       const WhisperTranscribeOptions& base, ThreadPool& pool, WhisperTranscript& out, bool& stop) {
  WhisperTranscribeOptions o = base;
  const double offset = (double)begin / kWhisperSampleRate;
  o.on_segment = [&](const WhisperSegment& s) {
    WhisperSegment shifted = s;
    shifted.t0 += offset;
    shifted.t1 += offset;
    if (base.on_segment && !base.on_segment(shifted)) stop = true;
    return !stop;
  };
  NM_ASSIGN_OR_RETURN(WhisperTranscript t, asr.transcribe(samples.subspan((size_t)begin, (size_t)(end - begin)), o, pool));
  for (WhisperSegment& s : t.segments) {
    s.t0 += offset;
    s.t1 += offset;
    out.segments.push_back(std::move(s));
  }
  add_totals(out, t);
  return Status();
}

}  // namespace

Result<WhisperTranscript> transcribe_speech(WhisperTranscriber& asr, std::span<const float> samples,
                                            const SpeechOptions& opt, VoiceActivityDetector* vad, ThreadPool& pool) {
  if (!vad) return asr.transcribe(samples, opt.whisper, pool);
  std::vector<SpeechSpan> spans = detect_speech(*vad, samples, opt.segmenter);
  // Spans close together belong to one sentence: decode them as one (Whisper needs context).
  std::vector<SpeechSpan> merged;
  for (const SpeechSpan& s : spans) {
    if (!merged.empty() && (double)(s.begin - merged.back().end) / kWhisperSampleRate < opt.merge_gap_s) {
      merged.back().end = s.end;
    } else {
      merged.push_back(s);
    }
  }
  WhisperTranscript out;
  bool stop = false;
  for (const SpeechSpan& s : merged) {
    NM_RETURN_IF_ERROR(transcribe_span(asr, samples, s.begin, s.end, opt.whisper, pool, out, stop));
    if (stop) break;
  }
  return out;
}

Status transcribe_live(WhisperTranscriber& asr, AudioSource& mic, VoiceActivityDetector& vad, const SpeechOptions& opt,
                       ThreadPool& pool, const std::function<bool(const WhisperSegment&)>& on_segment,
                       WhisperTranscript* done) {
  TranscriberLease held;
  held.acquire = [&asr]() -> Result<WhisperTranscriber*> { return &asr; };
  return transcribe_live(held, mic, vad, opt, pool, on_segment, done);
}

Status transcribe_live(const TranscriberLease& lease, AudioSource& mic, VoiceActivityDetector& vad,
                       const SpeechOptions& opt, ThreadPool& pool,
                       const std::function<bool(const WhisperSegment&)>& on_segment, WhisperTranscript* done) {
  if (mic.sample_rate() != VoiceActivityDetector::kSampleRate) {
    return error(ErrorCode::invalid_argument, "the microphone must deliver 16 kHz for voice activity detection");
  }
  SpeechSegmenterParams sp = opt.segmenter;
  sp.min_silence_ms = std::max(sp.min_silence_ms, opt.utterance_silence_ms);
  SpeechSegmenter seg(sp);
  vad.reset();
  WhisperTranscribeOptions wo = opt.whisper;
  wo.on_segment = on_segment;
  wo.condition_on_previous_text = false;  // utterances are independent questions
  // The recording since `base`; older audio is dropped once no span can reach back to it.
  std::vector<float> buf;
  int64_t base = 0;
  const int64_t keep_before = (int64_t)sp.speech_pad_ms * VoiceActivityDetector::kSampleRate / 1000 + VoiceActivityDetector::kChunk;
  std::vector<float> chunk(VoiceActivityDetector::kChunk);
  WhisperTranscript totals;
  bool stop = false;
  // Detector time and audio since the last utterance (Utterance::vad_ms).
  double vad_ms = 0;
  int64_t vad_samples = 0;
  auto run_span = [&](const SpeechSpan& s) -> Status {
    const auto ended = std::chrono::steady_clock::now();
    const int64_t b = std::max(s.begin, base), e = std::min<int64_t>(s.end, base + (int64_t)buf.size());
    if (e <= b) return Status();
    std::span<const float> all(buf);
    WhisperTranscribeOptions o = wo;
    o.on_segment = nullptr;
    NM_ASSIGN_OR_RETURN(WhisperTranscriber * asr, lease.acquire());
    Result<WhisperTranscript> heard = asr->transcribe(all.subspan((size_t)(b - base), (size_t)(e - b)), o, pool);
    if (lease.release) lease.release();
    NM_ASSIGN_OR_RETURN(WhisperTranscript t, std::move(heard));
    const double offset = (double)b / VoiceActivityDetector::kSampleRate;
    Utterance u;
    if (opt.on_utterance) {
      u.t0 = offset;
      u.t1 = (double)e / VoiceActivityDetector::kSampleRate;
      u.transcript = t;
      u.text = trimmed(t.text());
      u.ended = ended;
      u.vad_ms = vad_ms;
      u.vad_audio_s = (double)vad_samples / VoiceActivityDetector::kSampleRate;
      vad_ms = 0;
      vad_samples = 0;
    }
    for (WhisperSegment& x : t.segments) {
      x.t0 += offset;
      x.t1 += offset;
      if (!stop && on_segment && !on_segment(x)) stop = true;
      totals.segments.push_back(std::move(x));
    }
    add_totals(totals, t);
    if (!stop && opt.on_utterance && !opt.on_utterance(u)) stop = true;
    return Status();
  };
  const int64_t max_samples = opt.max_seconds > 0 ? (int64_t)(opt.max_seconds * VoiceActivityDetector::kSampleRate) : -1;
  for (;;) {
    if (max_samples >= 0 && seg.position() >= max_samples) break;
    NM_ASSIGN_OR_RETURN(int64_t got, mic.read(chunk.data(), (int64_t)chunk.size()));
    if (got <= 0) break;
    std::fill(chunk.begin() + got, chunk.end(), 0.0f);
    buf.insert(buf.end(), chunk.begin(), chunk.end());
    SpeechSpan s;
    const auto t_vad = std::chrono::steady_clock::now();
    const float p = vad.speech_probability(chunk.data());
    vad_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_vad).count();
    vad_samples += got;
    if (seg.push(p, &s)) NM_RETURN_IF_ERROR(run_span(s));
    if (stop) break;
    if (!seg.in_speech()) {
      // Nothing open: keep only the padding a span starting now could reach back to.
      const int64_t drop = (int64_t)buf.size() - keep_before;
      if (drop > 0) {
        buf.erase(buf.begin(), buf.begin() + drop);
        base += drop;
      }
    }
  }
  SpeechSpan s;
  if (!stop && seg.finish(&s)) NM_RETURN_IF_ERROR(run_span(s));
  if (done) *done = std::move(totals);
  return Status();
}

}  // namespace nm
