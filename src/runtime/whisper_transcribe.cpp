#include "runtime/whisper_transcribe.h"

#include "backend/cpu/packed_weights.h"
#include "runtime/device_placement.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace nm {
namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

constexpr double kSecondsPerFrame = (double)kWhisperHop / kWhisperSampleRate;  // 0.01 s
constexpr int kFramesPerTimestamp = 2;                                           // 0.02 s

// Whisper's segments of one window (transcribe.py): a segment per pair of consecutive
// timestamps; `seek_frames` is where the next window starts.
void split_segments(const WhisperVocab& v, const WhisperWindowResult& r, double offset, int segment_frames,
                    float temperature, std::vector<WhisperSegment>& out, int& advance_frames) {
  const std::vector<int32_t>& t = r.tokens;
  auto seg = [&](size_t a, size_t b, double t0, double t1) {
    WhisperSegment s;
    s.t0 = t0;
    s.t1 = t1;
    s.tokens.assign(t.begin() + (std::ptrdiff_t)a, t.begin() + (std::ptrdiff_t)b);
    s.text = sanitize_utf8(v.decode(s.tokens));
    s.avg_logprob = r.avg_logprob;
    s.no_speech_prob = r.no_speech_prob;
    s.temperature = temperature;
    out.push_back(std::move(s));
  };
  auto ts = [&](int32_t id) { return v.timestamp_seconds(id); };
  std::vector<size_t> cuts;  // positions i where tokens i-1 and i are both timestamps
  for (size_t i = 1; i < t.size(); ++i) {
    if (v.is_timestamp(t[i - 1]) && v.is_timestamp(t[i])) cuts.push_back(i);
  }
  const bool single_ending = t.size() >= 2 && !v.is_timestamp(t[t.size() - 2]) && v.is_timestamp(t.back());
  advance_frames = segment_frames;
  if (!cuts.empty()) {
    if (single_ending) cuts.push_back(t.size());
    size_t last = 0;
    for (size_t c : cuts) {
      seg(last, c, offset + ts(t[last]), offset + ts(t[c - 1]));
      last = c;
    }
    if (!single_ending) advance_frames = (int)std::lround(ts(t[last - 1]) / 0.02) * kFramesPerTimestamp;
  } else {
    double duration = segment_frames * kSecondsPerFrame;
    for (size_t i = t.size(); i-- > 0;) {
      if (v.is_timestamp(t[i])) {
        if (t[i] != v.timestamp_begin) duration = ts(t[i]);
        break;
      }
    }
    if (!t.empty()) seg(0, t.size(), offset, offset + duration);
  }
  if (advance_frames <= 0) advance_frames = segment_frames;  // never stand still
  for (WhisperSegment& s : out) s.t1 = std::max(s.t1, s.t0);
}

}  // namespace

std::string WhisperTranscript::text() const {
  std::string s;
  for (const WhisperSegment& seg : segments) s += seg.text;
  return s;
}

Status whisper_check_options(const WhisperModel& model, const WhisperTranscribeOptions& o) {
  const WhisperVocab& v = model.vocab();
  if (o.language != "auto" && v.language_token(o.language) < 0) {
    return error(ErrorCode::invalid_argument, "unknown language '" + o.language + "' (use a code such as en, de, fr, or auto)");
  }
  if (!v.multilingual() && o.language != "auto" && o.language != "en") {
    return error(ErrorCode::invalid_argument, "this Whisper model is English-only: --language must be en or auto");
  }
  if (!v.multilingual() && o.translate) {
    return error(ErrorCode::invalid_argument, "this Whisper model is English-only: it cannot translate");
  }
  if (o.audio_ctx != WhisperTranscribeOptions::kAudioCtxFit && (o.audio_ctx < 0 || o.audio_ctx > model.hparams().n_audio_ctx)) {
    return error(ErrorCode::invalid_argument, "audio_ctx " + std::to_string(o.audio_ctx) + ": 0 (the whole window), 1 to " +
                                                  std::to_string(model.hparams().n_audio_ctx) + " positions, or -1 (fitted to the audio)");
  }
  if (o.beam_size < 1 || o.beam_size > 16) return error(ErrorCode::invalid_argument, "beam size must be 1 to 16");
  if (o.best_of < 1 || o.best_of > 16) return error(ErrorCode::invalid_argument, "best-of must be 1 to 16");
  if (o.temperatures.empty()) return error(ErrorCode::invalid_argument, "at least one temperature is needed");
  for (float t : o.temperatures) {
    if (!(t >= 0.0f && t <= 2.0f)) return error(ErrorCode::invalid_argument, "temperatures must be in [0, 2]");
  }
  for (float x : {o.entropy_threshold, o.logprob_threshold, o.no_speech_threshold}) {
    if (!std::isfinite(x)) return error(ErrorCode::invalid_argument, "thresholds must be finite numbers");
  }
  return Status();
}

int whisper_fit_audio_ctx(int64_t content_frames, int n_audio_ctx) {
  constexpr int64_t kTailFrames = 100, kRound = 64;  // 1 s of what follows; whole tiles of positions
  const int64_t positions = (std::max<int64_t>(0, content_frames) + kTailFrames + 1) / 2;
  return (int)std::min<int64_t>(n_audio_ctx, (positions + kRound - 1) / kRound * kRound);
}

Result<std::unique_ptr<WhisperTranscriber>> WhisperTranscriber::create(std::shared_ptr<const WhisperModel> model,
                                                                       const WhisperPlacement& placement, int max_sequences) {
  std::unique_ptr<WhisperTranscriber> t(new WhisperTranscriber());
  t->model_ = model;
  t->audio_ = std::make_unique<WhisperAudioBrick>(model);
  t->asr_ = std::make_unique<WhisperAsrBrick>(model);
  NM_ASSIGN_OR_RETURN(BrickPlacement where, parse_device_spec(placement.devices));
  if (!where.empty()) {
    DeviceRegistryOptions ro;  // OpenCL is probed only when a name other than a CPU cluster asks for it
    ro.opencl = false;
    for (const std::string& n : where.device_names()) ro.opencl |= n.rfind("cpu", 0) != 0;
    t->devices_ = std::make_unique<DeviceRegistry>(DeviceRegistry::create(ro));
    NM_ASSIGN_OR_RETURN(t->audio_device_, resolve_device(*t->devices_, where.device_for(BrickKind::audio)));
    NM_ASSIGN_OR_RETURN(t->asr_device_, resolve_device(*t->devices_, where.device_for(BrickKind::asr)));
  }
  BrickRunParams run;
  run.isa = placement.isa;
  // Q8_0/Q4_0/Q5_0 matrices run from packed copies on the CPU (the quantised GEMM is
  // several times faster there); one set for both bricks (their weights are disjoint).
  if (placement.pack_weights) run.packed = PackedWeights::for_memory(model->arena_data(), model->arena_bytes());
  run.device = t->audio_device_;
  NM_ASSIGN_OR_RETURN(t->encoder_, WhisperEncoder::create(model, run));
  WhisperDecoderParams dp;
  run.device = t->asr_device_;
  dp.run = run;
  dp.n_beams = std::max(1, max_sequences);
  NM_ASSIGN_OR_RETURN(t->decoder_, WhisperDecoder::create(model, dp));
  return t;
}

Result<WhisperTranscript> WhisperTranscriber::transcribe(std::span<const float> samples,
                                                         const WhisperTranscribeOptions& opt, ThreadPool& pool) {
  NM_RETURN_IF_ERROR(whisper_check_options(*model_, opt));
  const int n_seq = std::max(opt.beam_size, opt.best_of);
  if (n_seq > decoder_->n_beams()) {
    return error(ErrorCode::invalid_argument, "beam size / best-of " + std::to_string(n_seq) + " exceeds the " +
                                                  std::to_string(decoder_->n_beams()) + " sequences this transcriber was made for");
  }
  const WhisperVocab& v = model_->vocab();
  WhisperTranscript out;
  auto t0 = std::chrono::steady_clock::now();
  NM_ASSIGN_OR_RETURN(LogMel mel, log_mel_spectrogram(samples, model_->mel_filters()));
  out.mel_ms = ms_since(t0);

  int language = opt.language == "auto" ? -1 : v.language_token(opt.language);
  if (!v.multilingual()) language = v.language_token("en");
  std::vector<int32_t> context;  // earlier tokens, the next window's prompt
  if (!opt.initial_prompt.empty()) context = v.encode(" " + opt.initial_prompt);
  std::mt19937_64 rng(opt.seed);
  std::vector<float> window((size_t)mel.n_mels * kWhisperChunkFrames), states;
  int64_t seek = 0;
  const int64_t content = mel.n_content_frames;
  while (seek < content) {
    // Windows shorter than 1 frame of content hold nothing to transcribe.
    const int segment_frames = (int)std::min<int64_t>(kWhisperChunkFrames, content - seek);
    const double offset = (double)seek * kSecondsPerFrame;
    const int n_ctx = opt.audio_ctx == WhisperTranscribeOptions::kAudioCtxFit
                          ? whisper_fit_audio_ctx(segment_frames, model_->hparams().n_audio_ctx)
                          : opt.audio_ctx;
    const int n_frames = n_ctx > 0 ? 2 * n_ctx : kWhisperChunkFrames;
    mel.window(seek, n_frames, window.data());
    t0 = std::chrono::steady_clock::now();
    NM_RETURN_IF_ERROR(encoder_->encode(window.data(), pool, states, n_ctx));
    out.encode_ms += ms_since(t0);
    t0 = std::chrono::steady_clock::now();
    NM_RETURN_IF_ERROR(decoder_->set_window(states, pool));
    ++out.n_windows;
    if (language < 0) {
      NM_ASSIGN_OR_RETURN(auto lang, whisper_detect_language(*decoder_, pool));
      language = lang.first;
      out.language_prob = lang.second;
    }
    WhisperWindowOptions wo;
    wo.language_token = language;
    wo.translate = opt.translate;
    wo.timestamps = opt.timestamps;
    wo.beam_size = opt.beam_size;
    wo.best_of = opt.best_of;
    wo.suppress_non_speech = opt.suppress_non_speech;
    if (opt.condition_on_previous_text || seek == 0) wo.previous = context;
    WhisperWindowResult res;
    float used_t = 0.0f;
    for (size_t i = 0; i < opt.temperatures.size(); ++i) {
      wo.temperature = opt.temperatures[i];
      NM_ASSIGN_OR_RETURN(res, whisper_decode_window(*decoder_, wo, rng, pool));
      used_t = wo.temperature;
      const bool looping = res.tokens.size() > 32 && res.entropy < opt.entropy_threshold;
      const bool unlikely = res.avg_logprob < opt.logprob_threshold;
      const bool silence = res.no_speech_prob > opt.no_speech_threshold && unlikely;
      if (silence || !(looping || unlikely) || i + 1 == opt.temperatures.size()) break;
      ++out.n_fallbacks;
    }
    out.decode_ms += ms_since(t0);
    out.n_tokens += (int)res.tokens.size();
    if (res.no_speech_prob > opt.no_speech_threshold && res.avg_logprob < opt.logprob_threshold) {
      ++out.n_skipped;
      seek += segment_frames;
      continue;
    }
    std::vector<WhisperSegment> segs;
    int advance = segment_frames;
    split_segments(v, res, offset, segment_frames, used_t, segs, advance);
    const double end_s = (double)samples.size() / kWhisperSampleRate;
    bool go_on = true;
    for (WhisperSegment& s : segs) {
      s.t0 = std::min(s.t0, end_s);
      s.t1 = std::min(s.t1, end_s);
      if (opt.on_segment && go_on) go_on = opt.on_segment(s);
      out.segments.push_back(std::move(s));
    }
    if (!go_on) break;
    seek += std::min(advance, segment_frames);
    // A window decoded at a high temperature is not trusted as the next one's prompt.
    if (used_t > 0.5f) context.clear();
    context.insert(context.end(), res.tokens.begin(), res.tokens.end());
  }
  out.language = std::string(v.language_code(language));
  return out;
}

}  // namespace nm
