// The speech-recognition part of the C API (nm_asr_*, nm_session_chat_audio and
// nm_audio_decode in include/nanomind/nanomind.h): a Whisper model and its transcription
// stream, and audio files held in memory decoded for it (as an HTTP request carries them).
// Every entry point checks its pointers and catches exceptions, so none crosses into C.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "api/c_api_status.h"
#include "bricks/vad/voice_activity.h"
#include "runtime/whisper_transcribe.h"
#include "core/audio.h"
#include "core/audio_capture.h"
#include "core/thread_pool.h"
#include "nanomind/nanomind.h"
#include "runtime/speech_input.h"

struct nm_asr {
  std::shared_ptr<const nm::WhisperModel> model;
  std::unique_ptr<nm::WhisperTranscriber> transcriber;
  std::unique_ptr<nm::ThreadPool> pool;
  std::string description, last_error, text;
  nm::WhisperTranscript result;
  nm_asr_timings timings{};
  std::unique_ptr<nm::VoiceActivityDetector> vad;
  std::string vad_path;  // what `vad` was loaded from ("" = energy detector)
};

namespace {

using nm::capi::copy_message;
using nm::capi::to_c;

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// Runs f with exceptions turned into a status and the message kept on the handle.
template <class F>
nm_status guarded(nm_asr* a, F&& f) {
  if (!a) return NM_ERR_INVALID_ARGUMENT;
  a->last_error.clear();
  try {
    const nm::Status s = f();
    if (!s.ok()) a->last_error = s.to_string();
    return to_c(s.code());
  } catch (const std::bad_alloc&) {
    a->last_error = "out of memory";
    return NM_ERR_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    a->last_error = std::string("internal error: ") + e.what();
    return NM_ERR_INTERNAL;
  }
}

// Runs f (an entry point without a handle) with exceptions turned into a status and the
// message written to err.
template <class F>
nm_status caught(char* err, size_t err_size, F&& f) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    copy_message("out of memory", err, err_size);
    return NM_ERR_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    copy_message(std::string("internal error: ") + e.what(), err, err_size);
    return NM_ERR_INTERNAL;
  }
}

nm::Result<nm::WhisperTranscribeOptions> options(const nm_transcribe_params& p) {
  nm::WhisperTranscribeOptions o;
  if (!std::isfinite(p.entropy_threshold) || !std::isfinite(p.logprob_threshold) || !std::isfinite(p.no_speech_threshold)) {
    return nm::error(nm::ErrorCode::invalid_argument, "transcribe thresholds must be finite numbers");
  }
  if (!(p.duration_s >= 0.0f) || p.duration_s > 1e7f) {
    return nm::error(nm::ErrorCode::invalid_argument, "duration_s must be 0 (all) or a positive number of seconds");
  }
  o.language = p.language && *p.language ? p.language : "auto";
  o.translate = p.translate != 0;
  o.timestamps = p.timestamps != 0;
  o.beam_size = p.beam_size;
  o.best_of = p.best_of;
  if (p.no_fallback) o.temperatures = {0.0f};
  o.entropy_threshold = p.entropy_threshold;
  o.logprob_threshold = p.logprob_threshold;
  o.no_speech_threshold = p.no_speech_threshold;
  if (p.initial_prompt) o.initial_prompt = p.initial_prompt;
  o.seed = p.seed;
  o.audio_ctx = p.audio_ctx;  // checked against the model by whisper_check_options
  return o;
}

// The detector params ask for (loaded once per path), or null without VAD.
nm::Result<nm::VoiceActivityDetector*> detector(nm_asr* a, const nm_transcribe_params& p) {
  if (!p.vad) return (nm::VoiceActivityDetector*)nullptr;
  const std::string path = p.vad_model ? p.vad_model : "";
  if (!a->vad || a->vad_path != path) {
    if (path.empty()) {
      a->vad = nm::make_energy_vad();
    } else {
      NM_ASSIGN_OR_RETURN(a->vad, nm::load_silero_vad(path));
    }
    a->vad_path = path;
  }
  return a->vad.get();
}

void record(nm_asr* a, double audio_ms, double audio_seconds) {
  a->text = a->result.text();
  const double load_ms = a->timings.load_ms;
  a->timings = nm_asr_timings{};
  a->timings.load_ms = load_ms;
  a->timings.audio_ms = audio_ms;
  a->timings.mel_ms = a->result.mel_ms;
  a->timings.encode_ms = a->result.encode_ms;
  a->timings.decode_ms = a->result.decode_ms;
  a->timings.audio_seconds = audio_seconds;
  a->timings.n_windows = a->result.n_windows;
  a->timings.n_fallbacks = a->result.n_fallbacks;
  a->timings.n_skipped = a->result.n_skipped;
  a->timings.n_tokens = a->result.n_tokens;
}

// Segment callback for the C user; `stopped` latches a non-zero return.
std::function<bool(const nm::WhisperSegment&)> forward(nm_segment_callback cb, void* user, bool& stopped) {
  if (!cb) return nullptr;
  return [cb, user, &stopped](const nm::WhisperSegment& s) {
    if (!stopped && cb(s.t0, s.t1, s.text.c_str(), user) != 0) stopped = true;
    return !stopped;
  };
}

nm::Status run(nm_asr* a, const nm::Audio& audio, const nm_transcribe_params* params, nm_segment_callback cb,
               void* user, double audio_ms) {
  const nm_transcribe_params p = params ? *params : nm_transcribe_default_params();
  nm::SpeechOptions so;
  NM_ASSIGN_OR_RETURN(so.whisper, options(p));
  NM_ASSIGN_OR_RETURN(nm::VoiceActivityDetector * vad, detector(a, p));
  bool stopped = false;
  so.whisper.on_segment = forward(cb, user, stopped);
  a->result = {};
  a->text.clear();
  std::span<const float> samples(audio.samples);
  if (p.duration_s > 0) samples = samples.first(std::min(samples.size(), (size_t)(p.duration_s * nm::kWhisperSampleRate) + 1));
  NM_ASSIGN_OR_RETURN(a->result, nm::transcribe_speech(*a->transcriber, samples, so, vad, *a->pool));
  record(a, audio_ms, audio.seconds());
  return nm::Status();
}

}  // namespace

extern "C" {

nm_asr_params nm_asr_default_params(void) {
  nm_asr_params p{};
  p.max_sequences = 5;
  return p;
}

nm_transcribe_params nm_transcribe_default_params(void) {
  nm_transcribe_params p{};
  p.language = "auto";
  p.timestamps = 1;
  p.beam_size = 5;
  p.best_of = 5;
  p.entropy_threshold = 2.4f;
  p.logprob_threshold = -1.0f;
  p.no_speech_threshold = 0.6f;
  return p;
}

nm_status nm_asr_load(const nm_asr_params* params, nm_asr** out, char* err, size_t err_size) {
  if (out) *out = nullptr;
  if (!params || !out || !params->model_path) {
    copy_message("nm_asr_load: params, out and params->model_path are required", err, err_size);
    return NM_ERR_INVALID_ARGUMENT;
  }
  if (params->n_threads < 0 || params->n_threads > 512 || params->max_sequences < 0 || params->max_sequences > 16) {
    copy_message("nm_asr_load: n_threads must be 0..512 and max_sequences 0..16", err, err_size);
    return NM_ERR_INVALID_ARGUMENT;
  }
  return caught(err, err_size, [&]() -> nm_status {
    const auto t0 = std::chrono::steady_clock::now();
    auto a = std::make_unique<nm_asr>();
    auto m = nm::WhisperModel::load(params->model_path);
    if (!m.ok()) {
      copy_message(m.status().to_string(), err, err_size);
      return to_c(m.status().code());
    }
    a->model = std::move(m).value();
    nm::WhisperPlacement where;
    if (params->devices) where.devices = params->devices;
    where.pack_weights = params->no_repack == 0;
    auto t = nm::WhisperTranscriber::create(a->model, where, params->max_sequences > 0 ? params->max_sequences : 5);
    if (!t.ok()) {
      copy_message(t.status().to_string(), err, err_size);
      return to_c(t.status().code());
    }
    a->transcriber = std::move(t).value();
    a->pool = std::make_unique<nm::ThreadPool>(params->n_threads > 0 ? params->n_threads : nm::default_thread_count());
    a->description = a->model->describe();
    if (!where.devices.empty()) {
      a->description += "; encoder on " + a->transcriber->audio_device_name() + ", decoder on " + a->transcriber->asr_device_name();
    }
    a->timings.load_ms = ms_since(t0);
    *out = a.release();
    return NM_OK;
  });
}

void nm_asr_free(nm_asr* asr) { delete asr; }

const char* nm_asr_last_error(const nm_asr* asr) { return asr ? asr->last_error.c_str() : "null nm_asr"; }

const char* nm_asr_describe(const nm_asr* asr) { return asr ? asr->description.c_str() : ""; }

nm_status nm_asr_transcribe_pcm(nm_asr* asr, const float* pcm, int64_t n_frames, int32_t channels, int32_t sample_rate,
                                const nm_transcribe_params* params, nm_segment_callback on_segment, void* user_data) {
  return guarded(asr, [&]() -> nm::Status {
    const auto t0 = std::chrono::steady_clock::now();
    NM_ASSIGN_OR_RETURN(nm::Audio audio, nm::audio_from_pcm_f32(pcm, n_frames, channels, sample_rate, nm::kWhisperSampleRate));
    return run(asr, audio, params, on_segment, user_data, ms_since(t0));
  });
}

nm_status nm_asr_transcribe_file(nm_asr* asr, const char* path, const nm_transcribe_params* params,
                                 nm_segment_callback on_segment, void* user_data) {
  return guarded(asr, [&]() -> nm::Status {
    if (!path) return nm::error(nm::ErrorCode::invalid_argument, "nm_asr_transcribe_file: path is NULL");
    const auto t0 = std::chrono::steady_clock::now();
    NM_ASSIGN_OR_RETURN(nm::Audio audio, nm::load_audio(path, nm::kWhisperSampleRate));
    return run(asr, audio, params, on_segment, user_data, ms_since(t0));
  });
}

nm_status nm_asr_transcribe_mic(nm_asr* asr, const char* device, const nm_transcribe_params* params,
                                nm_segment_callback on_segment, void* user_data) {
  return guarded(asr, [&]() -> nm::Status {
    if (!device) return nm::error(nm::ErrorCode::invalid_argument, "nm_asr_transcribe_mic: device is NULL");
    nm_transcribe_params p = params ? *params : nm_transcribe_default_params();
    p.vad = 1;  // live audio is always cut into utterances
    nm::SpeechOptions so;
    NM_ASSIGN_OR_RETURN(so.whisper, options(p));
    so.max_seconds = p.duration_s;
    NM_ASSIGN_OR_RETURN(nm::VoiceActivityDetector * vad, detector(asr, p));
    NM_ASSIGN_OR_RETURN(std::unique_ptr<nm::AudioSource> mic, nm::open_audio_input(device, nm::kWhisperSampleRate));
    const auto t0 = std::chrono::steady_clock::now();
    bool stopped = false;
    asr->result = {};
    asr->text.clear();
    NM_RETURN_IF_ERROR(nm::transcribe_live(*asr->transcriber, *mic, *vad, so, *asr->pool, forward(on_segment, user_data, stopped),
                                           &asr->result));
    record(asr, 0.0, ms_since(t0) / 1000.0);
    return nm::Status();
  });
}

int32_t nm_asr_get_text(const nm_asr* asr, char* buf, int32_t buf_size) {
  if (!asr) return -1;
  if (buf && buf_size > 0) copy_message(asr->text, buf, (size_t)buf_size);
  return (int32_t)std::min<size_t>(asr->text.size(), INT32_MAX);
}

int32_t nm_asr_n_segments(const nm_asr* asr) { return asr ? (int32_t)asr->result.segments.size() : 0; }

nm_status nm_asr_get_segment(const nm_asr* asr, int32_t i, double* t0, double* t1, char* text, int32_t text_size) {
  if (!asr || i < 0 || i >= (int32_t)asr->result.segments.size()) return NM_ERR_INVALID_ARGUMENT;
  const nm::WhisperSegment& s = asr->result.segments[(size_t)i];
  if (t0) *t0 = s.t0;
  if (t1) *t1 = s.t1;
  if (text && text_size > 0) copy_message(s.text, text, (size_t)text_size);
  return NM_OK;
}

const char* nm_asr_language(const nm_asr* asr) { return asr ? asr->result.language.c_str() : ""; }

void nm_asr_get_timings(const nm_asr* asr, nm_asr_timings* out) {
  if (!out) return;
  *out = asr ? asr->timings : nm_asr_timings{};
}

nm_status nm_session_chat_audio(nm_session* session, nm_asr* asr, const float* pcm, int64_t n_frames, int32_t channels,
                                int32_t sample_rate, int32_t n_predict, nm_token_callback on_token, void* user_data) {
  if (!session) return NM_ERR_INVALID_ARGUMENT;
  const nm_status s = nm_asr_transcribe_pcm(asr, pcm, n_frames, channels, sample_rate, nullptr, nullptr, nullptr);
  if (s != NM_OK) return s;
  std::string text = asr->text;
  const size_t b = text.find_first_not_of(" \t\n"), e = text.find_last_not_of(" \t\n");
  text = b == std::string::npos ? std::string() : text.substr(b, e - b + 1);
  if (text.empty()) {
    asr->last_error = "the audio holds no speech the model could transcribe";
    return NM_ERR_INVALID_ARGUMENT;
  }
  return nm_session_chat(session, text.c_str(), n_predict, on_token, user_data);
}

nm_status nm_audio_decode(const uint8_t* data, size_t size, int32_t sample_rate, double max_seconds, float** samples,
                          int64_t* n_samples, char* err, size_t err_size) {
  if (samples) *samples = nullptr;
  if (n_samples) *n_samples = 0;
  copy_message("", err, err_size);
  if (!data || !samples || !n_samples || sample_rate < nm::kMinAudioRate || sample_rate > nm::kMaxAudioRate ||
      !(max_seconds >= 0)) {
    copy_message("nm_audio_decode: data, samples and n_samples are required, sample_rate must be 1000..768000 "
                  "and max_seconds >= 0", err, err_size);
    return NM_ERR_INVALID_ARGUMENT;
  }
  return caught(err, err_size, [&]() -> nm_status {
    auto audio = nm::decode_audio(data, size, sample_rate, "the audio", nullptr,
                                  max_seconds > 0 ? max_seconds : nm::kMaxAudioSeconds);
    if (!audio.ok()) {
      copy_message(audio.status().message(), err, err_size);
      return to_c(audio.status().code());
    }
    const std::vector<float>& s = audio->samples;
    // malloc, so that callers in any language can free it through nm_audio_free.
    auto* out = static_cast<float*>(std::malloc(s.size() * sizeof(float)));
    if (!out) {
      copy_message("out of memory", err, err_size);
      return NM_ERR_OUT_OF_MEMORY;
    }
    std::memcpy(out, s.data(), s.size() * sizeof(float));
    *samples = out;
    *n_samples = (int64_t)s.size();
    return NM_OK;
  });
}

void nm_audio_free(float* samples) { std::free(samples); }

}  // extern "C"
