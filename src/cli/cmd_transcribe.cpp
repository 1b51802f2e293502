// `nanomind transcribe`: speech to text with a Whisper model (whisper.cpp's ggml-*.bin or a
// faster-whisper CTranslate2 directory), with whisper.cpp's flag names where it has them.
// Segments are printed as they are decoded; --output-txt/srt/vtt/json also write files
// named after the audio (or --output-file). whisper.cpp's multi-letter short flags (-otxt,
// -bs 5, -np, ...) are accepted too (expand_whisper_cpp_flags). Uses only the C API.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/option_checks.h"
#include "nanomind/nanomind.h"

namespace nm::cli {
namespace {

struct TranscribeOptions {
  std::string model;
  std::vector<std::string> files;
  std::string language = "auto";
  bool translate = false;
  bool print_timestamps = false;
  bool no_timestamps = false;
  int beam_size = 5, best_of = 5;
  bool no_fallback = false;
  float entropy_thold = 2.4f, logprob_thold = -1.0f, no_speech_thold = 0.6f;
  std::string prompt;
  int n_threads = 0;
  bool out_txt = false, out_srt = false, out_vtt = false, out_json = false;
  std::string out_file;
  bool no_prints = false, verbose = false;
  uint64_t seed = 0;
  bool vad = false;
  std::string vad_model, mic;
  std::string devices;
  float duration = 0.0f;
  int audio_ctx = 0;
  bool no_repack = false;
};

// "00:01:02.345" (sep '.') or "00:01:02,345" (SRT).
std::string clock(double s, char sep) {
  const long ms = std::lround(std::max(0.0, s) * 1000.0);
  char b[32];
  std::snprintf(b, sizeof b, "%02ld:%02ld:%02ld%c%03ld", ms / 3600000, ms / 60000 % 60, ms / 1000 % 60, sep, ms % 1000);
  return b;
}

struct Printer {
  bool timestamps;
  bool any = false;
  bool lines = false;  // one line per segment (live transcription)
};

int print_segment(double t0, double t1, const char* text, void* user) {
  auto* p = static_cast<Printer*>(user);
  if (p->lines && !p->timestamps) {
    std::printf("%s\n", text + (text[0] == ' ' ? 1 : 0));
  } else if (p->timestamps) {
    std::printf("[%s --> %s]  %s\n", clock(t0, '.').c_str(), clock(t1, '.').c_str(), text);
  } else {
    std::fputs(p->any ? text : text + (text[0] == ' ' ? 1 : 0), stdout);
  }
  p->any = true;
  std::fflush(stdout);
  return 0;
}

struct Segment {
  double t0, t1;
  std::string text;
};

std::vector<Segment> segments_of(const nm_asr* asr) {
  std::vector<Segment> out;
  std::vector<char> buf(1 << 16);
  for (int32_t i = 0; i < nm_asr_n_segments(asr); ++i) {
    Segment s{};
    if (nm_asr_get_segment(asr, i, &s.t0, &s.t1, buf.data(), (int32_t)buf.size()) == NM_OK) s.text = buf.data();
    out.push_back(std::move(s));
  }
  return out;
}

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(' '), e = s.find_last_not_of(' ');
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

bool write_outputs(const TranscribeOptions& o, const std::string& audio, const nm_asr* asr) {
  const std::string base = o.out_file.empty() ? audio : o.out_file;
  const std::vector<Segment> segs = segments_of(asr);
  auto save = [&](const std::string& ext, const std::string& content) {
    const std::string path = base + ext;
    std::ofstream f(path, std::ios::binary);
    f << content;
    if (!f) {
      std::fprintf(stderr, "error: cannot write '%s'\n", path.c_str());
      return false;
    }
    if (!o.no_prints) std::fprintf(stderr, "nanomind: saved '%s'\n", path.c_str());
    return true;
  };
  bool ok = true;
  if (o.out_txt) {
    std::string s;
    for (const Segment& g : segs) s += trim(g.text) + "\n";
    ok &= save(".txt", s);
  }
  if (o.out_srt || o.out_vtt) {
    std::string srt, vtt = "WEBVTT\n\n";
    for (size_t i = 0; i < segs.size(); ++i) {
      srt += std::to_string(i + 1) + "\n" + clock(segs[i].t0, ',') + " --> " + clock(segs[i].t1, ',') + "\n" +
             trim(segs[i].text) + "\n\n";
      vtt += clock(segs[i].t0, '.') + " --> " + clock(segs[i].t1, '.') + "\n" + trim(segs[i].text) + "\n\n";
    }
    if (o.out_srt) ok &= save(".srt", srt);
    if (o.out_vtt) ok &= save(".vtt", vtt);
  }
  if (o.out_json) {
    nlohmann::json j;
    j["model"] = nm_asr_describe(asr);
    j["audio"] = audio;
    j["language"] = nm_asr_language(asr);
    std::vector<char> text((size_t)nm_asr_get_text(asr, nullptr, 0) + 1);
    nm_asr_get_text(asr, text.data(), (int32_t)text.size());
    j["text"] = trim(text.data());
    j["segments"] = nlohmann::json::array();
    for (const Segment& g : segs) j["segments"].push_back({{"start", g.t0}, {"end", g.t1}, {"text", trim(g.text)}});
    // Invalid UTF-8 (a multi-byte character cut between tokens) is replaced, not fatal.
    ok &= save(".json", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  }
  return ok;
}

int transcribe(const TranscribeOptions& o) {
  if (o.files.empty() && o.mic.empty()) {
    std::fprintf(stderr, "error: no audio file given (nanomind transcribe -m MODEL AUDIO.wav, or --mic default)\n");
    return 1;
  }
  if (!o.files.empty() && !o.mic.empty()) {
    std::fprintf(stderr, "error: give audio files or --mic, not both\n");
    return 1;
  }
  nm_asr_params ap = nm_asr_default_params();
  ap.model_path = o.model.c_str();
  ap.n_threads = o.n_threads;
  ap.max_sequences = std::max(o.beam_size, o.best_of);
  ap.devices = o.devices.c_str();
  ap.no_repack = o.no_repack;
  char err[1024] = "";
  nm_asr* raw = nullptr;
  if (nm_asr_load(&ap, &raw, err, sizeof err) != NM_OK) {
    std::fprintf(stderr, "error: %s\n", err);
    return 1;
  }
  std::unique_ptr<nm_asr, decltype(&nm_asr_free)> asr(raw, nm_asr_free);
  if (!o.no_prints) std::fprintf(stderr, "nanomind: %s\n", nm_asr_describe(asr.get()));
  nm_transcribe_params tp = nm_transcribe_default_params();
  tp.language = o.language.c_str();
  tp.translate = o.translate;
  tp.timestamps = !o.no_timestamps;
  tp.beam_size = o.beam_size;
  tp.best_of = o.best_of;
  tp.no_fallback = o.no_fallback;
  tp.entropy_threshold = o.entropy_thold;
  tp.logprob_threshold = o.logprob_thold;
  tp.no_speech_threshold = o.no_speech_thold;
  tp.initial_prompt = o.prompt.empty() ? nullptr : o.prompt.c_str();
  tp.seed = o.seed;
  tp.duration_s = o.duration;
  tp.audio_ctx = o.audio_ctx;
  tp.vad = o.vad || !o.vad_model.empty() || !o.mic.empty();  // live audio is always cut by a VAD
  tp.vad_model = o.vad_model.empty() ? nullptr : o.vad_model.c_str();
  if (tp.vad && !o.no_prints) {
    std::fprintf(stderr, "nanomind: voice activity detection: %s\n", o.vad_model.empty() ? "energy detector (no --vad-model)" : o.vad_model.c_str());
  }
  if (!o.mic.empty()) {
    if (!o.no_prints) std::fprintf(stderr, "nanomind: listening on '%s' (Ctrl-C stops)\n", o.mic.c_str());
    Printer printer{o.print_timestamps && !o.no_timestamps};
    printer.lines = true;
    if (nm_asr_transcribe_mic(asr.get(), o.mic.c_str(), &tp, print_segment, &printer) != NM_OK) {
      std::fprintf(stderr, "error: %s\n", nm_asr_last_error(asr.get()));
      return 1;
    }
    return 0;
  }
  int rc = 0;
  for (const std::string& f : o.files) {
    if (o.files.size() > 1 && !o.no_prints) std::fprintf(stderr, "nanomind: %s\n", f.c_str());
    Printer printer{o.print_timestamps && !o.no_timestamps};
    if (nm_asr_transcribe_file(asr.get(), f.c_str(), &tp, print_segment, &printer) != NM_OK) {
      std::fprintf(stderr, "error: %s\n", nm_asr_last_error(asr.get()));
      rc = 1;
      continue;
    }
    if (!printer.timestamps) std::fputs("\n", stdout);
    std::fflush(stdout);
    if (!write_outputs(o, f, asr.get())) rc = 1;
    if (o.verbose && !o.no_prints) {
      nm_asr_timings t;
      nm_asr_get_timings(asr.get(), &t);
      const double total = t.audio_ms + t.mel_ms + t.encode_ms + t.decode_ms;
      std::fprintf(stderr,
                   "nanomind: language %s; %.2f s of audio in %.0f ms (real-time factor %.3f): load %.0f ms, audio in %.0f ms, "
                   "mel %.0f ms, encoder %.0f ms (%d windows), decoder %.0f ms (%d tokens, %d fallbacks, %d silent windows)\n",
                   nm_asr_language(asr.get()), t.audio_seconds, total, t.audio_seconds > 0 ? total / 1000.0 / t.audio_seconds : 0.0,
                   t.load_ms, t.audio_ms, t.mel_ms, t.encode_ms, t.n_windows, t.decode_ms, t.n_tokens, t.n_fallbacks, t.n_skipped);
    }
  }
  return rc;
}

}  // namespace

std::vector<std::string> expand_whisper_cpp_flags(std::vector<std::string> args) {
  static const std::pair<const char*, const char*> kFlags[] = {
      {"-otxt", "--output-txt"},     {"-osrt", "--output-srt"},   {"-ovtt", "--output-vtt"},
      {"-oj", "--output-json"},      {"-of", "--output-file"},    {"-np", "--no-prints"},
      {"-nt", "--no-timestamps"},    {"-tr", "--translate"},      {"-bs", "--beam-size"},
      {"-bo", "--best-of"},          {"-nf", "--no-fallback"},    {"-et", "--entropy-thold"},
      {"-lpt", "--logprob-thold"},   {"-nth", "--no-speech-thold"}, {"-vm", "--vad-model"},
      {"-ac", "--audio-ctx"}};
  if (args.size() < 2 || args[1] != "transcribe") return args;
  for (size_t i = 2; i < args.size(); ++i) {
    if (args[i] == "--") break;  // what follows is positional
    for (const auto& [short_name, long_name] : kFlags) {
      if (args[i] == short_name) {
        args[i] = long_name;
        break;
      }
    }
  }
  return args;
}

void register_transcribe(CLI::App& app) {
  auto o = std::make_shared<TranscribeOptions>();
  auto* cmd = app.add_subcommand("transcribe", "Speech to text with a Whisper model (whisper.cpp ggml file or CTranslate2 directory)");
  cmd->add_option("-m,--model", o->model, "Whisper model: ggml-*.bin file or faster-whisper (CTranslate2) directory")->required();
  cmd->add_option("files,-f,--file", o->files, "Audio files (WAV, FLAC, OGG, MP3, ...; any rate and channels)");
  cmd->add_option("-l,--language", o->language, "Spoken language code (en, de, ...) or auto")->capture_default_str();
  cmd->add_flag("--translate", o->translate, "Translate into English");
  cmd->add_flag("--timestamps", o->print_timestamps, "Print each segment with its start and end time");
  cmd->add_flag("--no-timestamps", o->no_timestamps, "Decode without timestamp tokens (one segment per 30 s window)");
  cmd->add_option("--beam-size", o->beam_size, "Beam size at temperature 0 (1 = greedy)")->check(CLI::Range(1, 16))->capture_default_str();
  cmd->add_option("--best-of", o->best_of, "Candidates sampled at temperature > 0")->check(CLI::Range(1, 16))->capture_default_str();
  cmd->add_flag("--no-fallback", o->no_fallback, "Never retry a window at higher temperatures");
  cmd->add_option("--audio-ctx", o->audio_ctx,
                  "Encoder positions per window, 20 ms each: 0 = all 1500 (the 30 s window, as Whisper), "
                  "-1 = fitted to each window's audio (faster on short audio, not the reference computation)")
      ->check(CLI::Range(-1, 1500))->capture_default_str();
  cmd->add_flag("--no-repack", o->no_repack,
                "Run quantised matrices in the model's layout (default: a row-interleaved CPU copy, faster, "
                "which costs their bytes once more)");
  cmd->add_option("--entropy-thold", o->entropy_thold, "Retry a window whose last 32 tokens have less entropy")->check(real_in(0, 10, false, "0 to 10"))->capture_default_str();
  cmd->add_option("--logprob-thold", o->logprob_thold, "Retry a window with a lower mean log-probability")->check(real_in(-100, 0, false, "-100 to 0"))->capture_default_str();
  cmd->add_option("--no-speech-thold", o->no_speech_thold, "No-speech probability above which an unlikely window is skipped as silence")->check(real_in(0, 1, false, "0 to 1"))->capture_default_str();
  cmd->add_option("--prompt", o->prompt, "Initial prompt: text that conditions the first window (names, spelling)");
  cmd->add_option("-t,--threads", o->n_threads, "Threads (default: one per core)")->check(CLI::Range(0, 512));
  cmd->add_option("--device", o->devices,
                  "Where the bricks run: a device for both (cpu, cpu:big, opencl) or per brick, audio=opencl,asr=cpu "
                  "(audio: log-mel + encoder; asr: decoder; default: cpu; list: nanomind devices)");
  cmd->add_option("--seed", o->seed, "Seed for sampling at temperature > 0")
      ->check(int_in(0, INT64_MAX, "0 to 9223372036854775807"))->capture_default_str();
  cmd->add_flag("--output-txt", o->out_txt, "Write the text to AUDIO.txt");
  cmd->add_flag("--output-srt", o->out_srt, "Write subtitles to AUDIO.srt");
  cmd->add_flag("--output-vtt", o->out_vtt, "Write subtitles to AUDIO.vtt");
  cmd->add_flag("--output-json", o->out_json, "Write segments and text to AUDIO.json");
  cmd->add_option("--output-file", o->out_file, "Base name of the output files instead of the audio's name");
  cmd->add_flag("--no-prints", o->no_prints, "Print only the transcript (no model line or messages on stderr)");
  cmd->add_flag("-v,--verbose", o->verbose, "Print timings and the real-time factor on stderr");
  cmd->add_flag("--vad", o->vad, "Decode only speech: voice activity detection (Silero with --vad-model, else by energy)");
  cmd->add_option("--vad-model", o->vad_model, "Silero VAD v6 weights (silero_vad_16k.safetensors); implies --vad");
  cmd->add_option("--duration", o->duration, "Only the first SECONDS of each file (or of the microphone)")->check(real_in(0, 1e7, false, "0 (all) to 10000000 seconds"));
  cmd->add_option("--mic", o->mic, "Transcribe live speech from an ALSA capture device (e.g. default, plughw:1,0), or an audio file played as one, one line per utterance");
  cmd->callback([o] { throw CLI::RuntimeError(transcribe(*o)); });
}

}  // namespace nm::cli
