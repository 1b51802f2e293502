// `nanomind run`: one prompt in, the answer streamed out. The prompt comes from -p, from
// standard input when -p is absent or "-", or from speech: --audio FILE is transcribed
// with the Whisper model given by --whisper and the transcript is the prompt. With --say
// FILE.wav the answer is also spoken, sentence by sentence while it is generated
// (runtime/speech_stream.h), by --voice (a voice GGUF from tools/piper_to_gguf.py, or espeak).
// With --camera (a folder of images or a V4L2 device), the prompt is asked about every K-th
// frame and one answer line is printed per frame as it is ready (nm_session_run_stream).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/default_model.h"
#include "cli/image_options.h"
#include "cli/option_checks.h"
#include "cli/text_escape.h"
#include "cli/text_options.h"
#include "core/wav_writer.h"
#include "runtime/speech_stream.h"

namespace nm::cli {
namespace {

struct RunOptions {
  TextOptions text;
  std::string prompt;
  ImageOptions images;
  int n_predict = 256;
  bool raw = false;
  std::string voice, say;  // speak the answer: voice GGUF or "espeak", WAV file
  std::string camera;  // a folder of frames or /dev/videoN
  int every = 1;
  int max_frames = 0;
  bool sequential = false;
  bool drop_frames = false;
  std::string battery, power_mode;  // the power policy (--camera)
  double t_high = 50, t_low = 20;   // its thresholds, %
  bool watch = false;               // --camera DIR: wait for new frames and lines on stdin
  bool replan = false;              // --camera: move bricks when their device stays slower than planned
  std::string audio, whisper;  // a spoken question and its Whisper model
};

// The transcript of --audio (trimmed), or "" after printing why there is none.
std::string transcribe_question(const RunOptions& o) {
  if (o.whisper.empty()) {
    std::fprintf(stderr, "error: --audio needs a Whisper model: --whisper ggml-base.bin (or a faster-whisper directory)\n");
    return "";
  }
  std::unique_ptr<nm_asr, decltype(&nm_asr_free)> asr(load_asr_or_report(o.whisper, o.text), nm_asr_free);
  if (!asr) return "";
  if (nm_asr_transcribe_file(asr.get(), o.audio.c_str(), nullptr, nullptr, nullptr) != NM_OK) {
    std::fprintf(stderr, "error: %s\n", nm_asr_last_error(asr.get()));
    return "";
  }
  std::string text((size_t)std::max(0, nm_asr_get_text(asr.get(), nullptr, 0)) + 1, '\0');
  nm_asr_get_text(asr.get(), text.data(), (int32_t)text.size());
  text.resize(std::strlen(text.c_str()));
  const size_t b = text.find_first_not_of(" \t\n"), e = text.find_last_not_of(" \t\n");
  text = b == std::string::npos ? std::string() : text.substr(b, e - b + 1);
  if (text.empty()) {
    std::fprintf(stderr, "error: no speech was heard in '%s'\n", o.audio.c_str());
    return "";
  }
  if (o.text.verbose) std::fprintf(stderr, "nanomind: heard \"%s\"\n", text.c_str());
  return text;
}

struct Shown {
  bool any = false;
  SpeechStream* speech = nullptr;
};

// Streams each piece to stdout (and to the speech stream); *user_data (Shown) records that
// something was shown.
int stream_piece(const char* piece, int32_t, void* user) {
  auto* shown = static_cast<Shown*>(user);
  std::fputs(piece, stdout);
  std::fflush(stdout);
  if (*piece) shown->any = true;
  if (shown->speech) shown->speech->push(piece);
  return 0;
}

// The answer's speech: a stream whose sink writes the WAV file (opened at the first sentence,
// when the voice's rate is known).
struct Speech {
  std::unique_ptr<VitsModel> voice;
  WavWriter wav;
  bool wav_open = false;
  std::unique_ptr<SpeechStream> stream;
};

std::unique_ptr<Speech> open_speech(const RunOptions& o, int n_threads) {
  auto sp = std::make_unique<Speech>();
  SpeechStreamParams p;
  if (o.voice != "espeak") {
    auto v = VitsModel::load(o.voice);
    if (!v.ok()) {
      std::fprintf(stderr, "error: %s\n", terminal_safe(v.status().to_string()).c_str());
      return nullptr;
    }
    sp->voice = std::move(*v);
    p.voice = sp->voice.get();
  }
  p.n_threads = n_threads;
  Speech* raw = sp.get();
  const std::string path = o.say;
  auto s = SpeechStream::create(p, [raw, path](std::span<const float> pcm, int rate) -> Status {
    if (raw->wav.samples_written() == 0 && !raw->wav_open) {
      NM_RETURN_IF_ERROR(raw->wav.open(path, rate));
      raw->wav_open = true;
    }
    return raw->wav.write(pcm);
  });
  if (!s.ok()) {
    std::fprintf(stderr, "error: %s\n", terminal_safe(s.status().to_string()).c_str());
    return nullptr;
  }
  sp->stream = std::move(*s);
  return sp;
}

void print_answer(const nm_frame_answer* a, void*) {
  // Under a power policy, the mode the frame was asked in and the battery reading behind it.
  char power[64] = "";
  if (a->power_mode != NM_POWER_NONE) {
    const char* mode = a->power_mode == NM_POWER_PARALLEL ? "parallel" : a->power_mode == NM_POWER_THROTTLED ? "throttled" : "on-demand";
    if (std::isfinite(a->battery_level)) std::snprintf(power, sizeof power, " [%s, battery %.1f%%]", mode, a->battery_level * 100);
    else std::snprintf(power, sizeof power, " [%s]", mode);
  }
  if (a->status == NM_OK) {
    std::printf("frame %lld (%s)%s: %s\n", (long long)a->frame, a->name, power, a->text);
  } else {
    std::printf("frame %lld (%s)%s: %s: %s\n", (long long)a->frame, a->name, power, a->dropped ? "dropped" : "error",
                a->text);
  }
  std::fflush(stdout);
}

int run_camera(const RunOptions& o, const std::string& prompt, nm_session* session) {
  nm_stream_params sp = nm_stream_default_params();
  sp.question = prompt.c_str();
  sp.every = o.every;
  sp.n_predict = o.n_predict;
  sp.sequential = o.sequential ? 1 : 0;
  sp.max_frames = o.max_frames;
  // A live camera drops frames it cannot keep up with; a folder waits (every frame answered).
  sp.drop_frames = o.drop_frames || std::filesystem::is_character_file(o.camera) ? 1 : 0;
  sp.watch = o.watch ? 1 : 0;
  sp.watch_fd = o.watch ? STDIN_FILENO : -1;
  sp.battery = o.battery.empty() ? nullptr : o.battery.c_str();
  sp.power_mode = o.power_mode.empty() ? nullptr : o.power_mode.c_str();
  sp.t_high = o.t_high;
  sp.t_low = o.t_low;
  sp.replan = o.replan ? (o.text.verbose ? 2 : 1) : 0;
  nm_stream_stats stats{};
  if (nm_session_run_stream(session, o.camera.c_str(), &sp, print_answer, nullptr, &stats) != NM_OK) {
    std::fprintf(stderr, "error: %s\n", nm_session_last_error(session));
    return 1;
  }
  if (o.text.verbose) {
    std::fprintf(stderr, "[stream: %d asked, %d answered, %d failed, %d dropped | first answer %.1f ms | %.1f answers/min | "
                 "%llu bytes copied between bricks]\n",
                 stats.asked, stats.answered, stats.failed, stats.dropped, stats.first_answer_ms,
                 stats.total_ms > 0 ? stats.answered * 60000.0 / stats.total_ms : 0.0,
                 (unsigned long long)stats.bytes_copied_between_bricks);
  }
  if (sp.battery || sp.power_mode) {
    const char* how = stats.energy_measured ? "measured" : "ESTIMATED";
    std::fprintf(stderr, "[power: %d mode change%s | parallel %d answers, %.3g J %s in %.3g s | throttled %d answers (%d frames "
                 "skipped), %.3g J in %.3g s | on-demand %d answers, %.3g J in %.3g s%s]\n",
                 stats.mode_changes, stats.mode_changes == 1 ? "" : "s", stats.answered_per_mode[0],
                 stats.joules_per_mode[0], how, stats.seconds_per_mode[0], stats.answered_per_mode[1], stats.skipped,
                 stats.joules_per_mode[1], stats.seconds_per_mode[1], stats.answered_per_mode[2],
                 stats.joules_per_mode[2], stats.seconds_per_mode[2], stats.battery_empty ? " | battery empty" : "");
  }
  return stats.asked > 0 && stats.answered == 0 ? 1 : 0;
}

int run(RunOptions o) {
  std::string prompt = o.prompt;
  if (!o.camera.empty() && (prompt.empty() || prompt == "-")) {
    std::fprintf(stderr, "error: --camera needs the question to ask about each frame: give it with -p TEXT\n");
    return 1;
  }
  if (!o.audio.empty()) {
    if (!prompt.empty()) {
      std::fprintf(stderr, "error: give the question either as text (-p) or as speech (--audio), not both\n");
      return 1;
    }
    prompt = transcribe_question(o);
    if (prompt.empty()) return 1;
  } else if (prompt.empty() || prompt == "-") {
    if (std::find(o.images.paths.begin(), o.images.paths.end(), "-") != o.images.paths.end()) {
      std::fprintf(stderr, "error: --image - reads the image from standard input, so the prompt must come from -p TEXT\n");
      return 1;
    }
    if (isatty(STDIN_FILENO)) {
      std::fprintf(stderr, "reading the prompt from standard input: type it, then Ctrl-D on an empty line "
                   "(or give -p TEXT)\n");
    }
    prompt.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  if (prompt.empty()) {
    std::fprintf(stderr, "error: the prompt is empty (give -p TEXT or pipe it on standard input)\n");
    return 1;
  }
  apply_image_size(o.images, o.text);
  if (!o.camera.empty() && (!o.battery.empty() || !o.power_mode.empty())) {
    // The power policy decides what stays resident; a session made on demand owns its packed
    // weight copies, so that on-demand mode can give them back too.
    o.text.residency = "on-demand";
  }
  std::unique_ptr<nm_model, decltype(&nm_model_free)> model(load_model_or_report(o.text), nm_model_free);
  if (!model) return 1;
  std::unique_ptr<nm_session, decltype(&nm_session_free)> session(open_session_or_report(model.get(), o.text),
                                                                 nm_session_free);
  if (!session) return 1;
  const TraceWriter trace(session.get(), o.text);
  if (!o.camera.empty()) {
    if (o.raw || !o.images.paths.empty() || !o.say.empty()) {
      std::fprintf(stderr, "error: --camera takes its pictures from the stream and prints its answers (drop --image, "
                   "--raw and --say)\n");
      return 1;
    }
    return run_camera(o, prompt, session.get());
  }
  if (o.watch) {
    std::fprintf(stderr, "error: --watch waits for new frames in a camera folder: add --camera DIR\n");
    return 1;
  }
  if (!o.battery.empty() || !o.power_mode.empty()) {
    std::fprintf(stderr, "error: --battery and --power-mode drive a camera stream: add --camera DIR\n");
    return 1;
  }
  if (!o.say.empty() && o.voice.empty()) {
    std::fprintf(stderr, "error: --say needs --voice VOICE.gguf (tools/piper_to_gguf.py) or --voice espeak\n");
    return 1;
  }
  std::unique_ptr<Speech> speech;
  if (!o.say.empty()) {
    speech = open_speech(o, o.text.n_threads > 0 ? o.text.n_threads : usable_cpu_count());
    if (!speech) return 1;
  }
  const std::vector<nm_image> images = c_images(o.images.paths);
  if (o.text.demo && images.empty()) {
    std::fprintf(stderr, "note: to ask about a picture of coloured shapes, add one with --image, e.g. --image "
                 "%s/samples/scene_3.png\n", o.text.demo_models_dir.c_str());
  }
  if (!o.raw && images.empty() && *nm_session_chat_template(session.get()) == '\0') {
    // A base model (no template in the file, none given): complete the text, as llama.cpp does.
    std::fprintf(stderr, "note: the model has no chat template NanoMind knows (a base model?): completing the prompt "
                 "as plain text (--template NAME to chat with one, --raw to say this is meant)\n");
    o.raw = true;
  }
  nm_status st;
  Shown shown;
  shown.speech = speech ? speech->stream.get() : nullptr;
  if (!images.empty()) {
    if (o.raw) {
      std::fprintf(stderr, "error: --image needs the chat template (drop --raw)\n");
      return 1;
    }
    st = nm_session_chat_images(session.get(), prompt.c_str(), images.data(), (int32_t)images.size(), o.n_predict,
                                stream_piece, &shown);
  } else {
    st = o.raw ? nm_session_complete(session.get(), prompt.c_str(), o.n_predict, stream_piece, &shown)
               : nm_session_chat(session.get(), prompt.c_str(), o.n_predict, stream_piece, &shown);
  }
  if (shown.any) std::fputs("\n", stdout);
  if (speech) {
    const auto t_end = std::chrono::steady_clock::now();
    Status ss = speech->stream->finish();
    if (ss.ok() && speech->wav_open) ss = speech->wav.close();
    if (!ss.ok()) {
      std::fprintf(stderr, "error: speaking the answer: %s\n", terminal_safe(ss.to_string()).c_str());
      return 1;
    }
    const double after_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_end).count();
    std::fprintf(stderr, "spoke %d sentence%s into %s: first audio %.0f ms after the voice was ready; the last "
                 "%.0f ms after the answer ended\n", speech->stream->sentences_spoken(),
                 speech->stream->sentences_spoken() == 1 ? "" : "s", o.say.c_str(), speech->stream->first_audio_ms(),
                 after_ms);
  }
  if (st != NM_OK) {
    std::fprintf(stderr, "error: %s\n", nm_session_last_error(session.get()));
    return 1;
  }
  if (!shown.any) std::fprintf(stderr, "note: the model ended its reply at once, without any text\n");
  if (o.text.verbose) print_timings(session.get());
  return 0;
}

}  // namespace

void register_run(CLI::App& app) {
  auto opts = std::make_shared<RunOptions>();
  auto* cmd = app.add_subcommand("run", "Answer one prompt (streams tokens as they are produced)");
  add_model_options(*cmd, opts->text);
  add_sampling_options(*cmd, opts->text);
  add_device_option(*cmd, opts->text);
  cmd->add_option("-p,--prompt", opts->prompt, "Prompt text (default or \"-\": read standard input)");
  cmd->add_option("-n,--n-predict", opts->n_predict, "Maximum tokens to generate (default 256)")
      ->check(int_in(1, NM_MAX_CTX, "1 to " + std::to_string(NM_MAX_CTX) + " tokens"));
  add_image_options(*cmd, opts->images);
  cmd->add_flag("--raw", opts->raw,
                "Complete the prompt as plain text, without the chat template (what happens anyway, with a note, "
                "for a model that has none)");
  cmd->add_option("--voice", opts->voice, "Voice for --say: a voice GGUF (tools/piper_to_gguf.py) or 'espeak' (default: none; --say needs one)");
  cmd->add_option("--say", opts->say, "Also speak the answer into this WAV file, sentence by sentence as it is generated (default: none, text only)");
  cmd->add_option("--camera", opts->camera,
                  "Ask the prompt about a stream of pictures: a folder of images (name order) or a V4L2 "
                  "device such as /dev/video0; prints one answer line per frame (default: none)");
  cmd->add_option("--every", opts->every, "With --camera: ask about every K-th frame (default 1)")
      ->check(int_in(1, 1 << 20, "1 to 1048576"));
  cmd->add_option("--max-frames", opts->max_frames, "With --camera: stop after this many frames (default 0: all)")
      ->check(int_in(0, 1 << 30, "0 (all) to 1073741824"));
  cmd->add_flag("--sequential", opts->sequential,
                "With --camera: encode and answer each frame in turn (default: the vision brick encodes the "
                "next frame while the text brick answers)");
  cmd->add_flag("--drop-frames", opts->drop_frames,
                "With --camera: drop the oldest waiting frame when frames come faster than answers "
                "(default for a video device; a folder waits)");
  add_power_options(*cmd, opts->battery, opts->power_mode, opts->t_high, opts->t_low,
                    {"With --camera: run under the battery power policy: sim:2000mAh@3.7V,start=80% (a simulated "
                     "battery drained by the answers' joules), sysfs or sysfs:BAT0 (the fuel gauge); modes: parallel "
                     "above 50%, throttled (frame rate and threads scaled by alpha) down to 20%, on-demand below; the "
                     "policy decides what stays resident (default: none)",
                     "With --camera: auto (by the battery level, the default with --battery), parallel, throttled or "
                     "on-demand (each brick loaded, run and given back per frame, nothing resident between)",
                     "the stream runs"});
  cmd->add_flag("--watch", opts->watch,
                "With --camera DIR: after the files already there, wait for new frames (written into the folder "
                "and closed, or moved in) and answer each as it arrives, asleep in between (no CPU time); each "
                "line on standard input asks about the latest frame again, and its end (Ctrl-D) stops");
  cmd->add_flag("--replan", opts->replan,
                "With --camera: re-plan while the stream runs: a brick whose device stays over 1.5x slower than the "
                "plan expects for 3 frames in a row (busy, throttled) moves between two frames to the device the "
                "planner then prefers; -v prints each decision");
  cmd->add_option("--audio", opts->audio, "Spoken question (WAV, FLAC, OGG, MP3): its transcript is the prompt");
  cmd->add_option("--whisper", opts->whisper, "Whisper model for --audio (ggml-*.bin file or faster-whisper directory)");
  cmd->callback([opts] { throw CLI::RuntimeError(run(*opts)); });
}

}  // namespace nm::cli
