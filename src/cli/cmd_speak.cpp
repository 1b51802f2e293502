// `nanomind speak -m voice.gguf "text" -o out.wav`: text to speech with a Piper (VITS) voice
// converted by tools/piper_to_gguf.py, or espeak-ng's own voice (--voice espeak, no model
// file). Text is phonemised by libespeak-ng and spoken sentence by sentence: each sentence
// is written to the WAV file as soon as it is synthesised.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bricks/tts/vits_model.h"
#include "cli/commands.h"
#include "cli/option_checks.h"
#include "cli/text_escape.h"
#include "core/file_read.h"
#include "core/thread_pool.h"
#include "core/wav_writer.h"
#include "runtime/speech_synth.h"
#include "tokenizer/espeak_ng.h"

namespace nm::cli {
namespace {

struct SpeakOptions {
  std::string model, voice, text, text_file, out = "speech.wav", espeak_voice;
  int n_threads = 0;
  double speed = 1.0, sentence_pause = 0.2;
  double noise_scale = -1, noise_w = -1;
  int64_t seed = 0;
  bool verbose = false;
};

int fail(const Status& s) {
  std::fprintf(stderr, "error: %s\n", terminal_safe(s.to_string()).c_str());
  return 1;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

int speak_espeak(const SpeakOptions& o, const std::string& text) {
  const auto t0 = std::chrono::steady_clock::now();
  auto a = espeak_speak(text, o.espeak_voice.empty() ? "en-us" : o.espeak_voice, (int)(175 * o.speed));
  if (!a.ok()) return fail(a.status());
  WavWriter w;
  if (Status s = w.open(o.out, a->sample_rate); !s.ok()) return fail(s);
  if (Status s = w.write(a->samples); !s.ok()) return fail(s);
  if (Status s = w.close(); !s.ok()) return fail(s);
  const double secs = (double)a->samples.size() / a->sample_rate;
  std::fprintf(stderr, "espeak-ng voice: %.2f s of audio in %.0f ms -> %s\n", secs, ms_since(t0), o.out.c_str());
  return 0;
}

int speak(const SpeakOptions& o) {
  std::string text = o.text;
  if (!o.text_file.empty()) {
    // A regular file only (a FIFO without a writer would block forever), 1 MiB at most.
    auto bytes = read_regular_file(o.text_file, 1 << 20, "text file '" + o.text_file + "'");
    if (!bytes.ok()) return fail(bytes.status());
    text.assign(bytes->begin(), bytes->end());
  } else if (text.empty() || text == "-") {
    std::vector<uint8_t> bytes;
    if (Status s = read_fd_capped(0, 1 << 20, "the text on standard input", bytes); !s.ok()) return fail(s);
    text.assign(bytes.begin(), bytes.end());
  }
  if (o.voice == "espeak") return speak_espeak(o, text);
  if (o.model.empty()) return fail(error(ErrorCode::invalid_argument, "give a voice with -m VOICE.gguf (tools/piper_to_gguf.py converts Piper voices) or --voice espeak"));
  auto model = VitsModel::load(o.model);
  if (!model.ok()) return fail(model.status());
  const VitsModel& m = **model;
  const std::string ev = o.espeak_voice.empty() ? m.voice().espeak_voice : o.espeak_voice;
  const auto t_ph = std::chrono::steady_clock::now();
  auto sentences = espeak_phonemize(text, ev);
  if (!sentences.ok()) return fail(sentences.status());
  const double phonemize_ms = ms_since(t_ph);
  SpeechParams sp;
  sp.length_scale = (float)(m.voice().length_scale / o.speed);
  sp.noise_scale = (float)o.noise_scale;
  sp.noise_w = (float)o.noise_w;
  sp.seed = (uint64_t)o.seed;
  auto synth = SpeechSynth::create(m, sp);
  if (!synth.ok()) return fail(synth.status());
  const int n_threads = o.n_threads > 0 ? std::min(o.n_threads, usable_cpu_count()) : usable_cpu_count();
  ThreadPool pool(n_threads);
  WavWriter w;
  if (Status s = w.open(o.out, m.voice().sample_rate); !s.ok()) return fail(s);
  const std::vector<float> pause((size_t)(o.sentence_pause * m.voice().sample_rate), 0.0f);
  SpeechTimings total;
  std::vector<std::string> missing;
  std::vector<float> pcm;
  for (size_t i = 0; i < sentences->size(); ++i) {
    std::vector<int32_t> ids = phoneme_ids((*sentences)[i], m.voice().phoneme_ids, &missing);
    SpeechTimings t;
    pcm.clear();
    if (Status s = (*synth)->synthesize(ids, pool, pcm, &t); !s.ok()) return fail(s);
    if (i > 0 && !pause.empty()) {
      if (Status s = w.write(pause); !s.ok()) return fail(s);
    }
    if (Status s = w.write(pcm); !s.ok()) return fail(s);
    if (o.verbose) {
      std::fprintf(stderr, "sentence %zu: %lld phoneme ids, %lld frames, %.2f s audio; encoder %.1f ms, decoder %.1f ms\n",
                   i + 1, (long long)t.n_phonemes, (long long)t.n_frames, (double)t.n_samples / m.voice().sample_rate,
                   t.encoder_ms, t.decoder_ms);
    }
    total.encoder_ms += t.encoder_ms;
    total.decoder_ms += t.decoder_ms;
    total.n_samples += t.n_samples;
  }
  if (Status s = w.close(); !s.ok()) return fail(s);
  if (!missing.empty()) {
    std::fprintf(stderr, "warning: %zu phoneme%s not in the voice's map left out (first: '%s')\n", missing.size(),
                 missing.size() == 1 ? "" : "s", terminal_safe(missing[0]).c_str());
  }
  const double audio_s = (double)total.n_samples / m.voice().sample_rate;
  const double synth_ms = total.encoder_ms + total.decoder_ms;
  if (sentences->empty()) std::fprintf(stderr, "nothing to say: the text has no words espeak-ng can speak\n");
  std::fprintf(stderr, "%zu sentence%s, %.2f s of audio -> %s; phonemes %.1f ms, synthesis %.1f ms (real-time factor "
               "%.3f, %d thread%s)\n", sentences->size(), sentences->size() == 1 ? "" : "s", audio_s, o.out.c_str(),
               phonemize_ms, synth_ms, audio_s > 0 ? synth_ms / 1000.0 / audio_s : 0.0, n_threads, n_threads == 1 ? "" : "s");
  return 0;
}

}  // namespace

void register_speak(CLI::App& app) {
  auto opts = std::make_shared<SpeakOptions>();
  auto* cmd = app.add_subcommand("speak", "Speak text into a WAV file with a Piper voice (GGUF from tools/piper_to_gguf.py) "
                                          "or espeak-ng's own voice (--voice espeak)");
  cmd->add_option("text", opts->text, "Text to speak (default or '-': read standard input)");
  cmd->add_option("-m,--model", opts->model, "Voice GGUF (a Piper voice converted by tools/piper_to_gguf.py; default: none, then --voice espeak is needed)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--voice", opts->voice, "'espeak': espeak-ng's own voice instead of a model (no file needed; default: none, the -m voice)")
      ->check(CLI::IsMember({"espeak"}));
  cmd->add_option("-f,--file", opts->text_file, "Read the text from this file (default: none, the text argument or standard input)")->check(CLI::ExistingFile);
  cmd->add_option("-o,--output", opts->out, "WAV file to write, 16-bit mono ('-': standard output; default speech.wav)");
  cmd->add_option("--espeak-voice", opts->espeak_voice, "espeak-ng voice for phonemes (default: the voice file's, e.g. en-us)");
  cmd->add_option("--speed", opts->speed, "Speaking rate: 2 is twice as fast (divides the voice's length scale; default 1)")
      ->check(real_in(0.1, 10.0, false, "0.1 to 10"));
  cmd->add_option("--noise-scale", opts->noise_scale, "Variation of the voice (default: the voice's, e.g. 0.667; 0: deterministic)")
      ->check(real_in(0.0, 5.0, false, "0 to 5"));
  cmd->add_option("--noise-w", opts->noise_w, "Variation of phoneme durations (default: the voice's, e.g. 0.8; 0: deterministic)")
      ->check(real_in(0.0, 5.0, false, "0 to 5"));
  cmd->add_option("--sentence-pause", opts->sentence_pause, "Seconds of silence between sentences (default 0.2)")
      ->check(real_in(0.0, 10.0, false, "0 to 10"));
  cmd->add_option("--seed", opts->seed, "Seed of the noise (default 0)")
      ->check(int_in(0, INT64_MAX, "0 to " + std::to_string(INT64_MAX)));
  cmd->add_option("-t,--threads", opts->n_threads, "Threads (default 0: one per core)")->check(int_in(0, 256, "0 to 256"));
  cmd->add_flag("-v,--verbose", opts->verbose, "Print each sentence's size and timings");
  cmd->callback([opts] { throw CLI::RuntimeError(speak(*opts)); });
}

}  // namespace nm::cli
