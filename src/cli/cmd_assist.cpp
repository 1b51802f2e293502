// `nanomind assist`: the camera-and-voice assistant in one command. It waits for speech on
// the microphone (--mic: an ALSA device, or an audio file played as one), transcribes each
// utterance with Whisper (--asr), grabs the camera's current frame (--camera), answers
// about it with the model (-m/--mmproj, through the C API's session: the runtime's
// vision and text bricks) and speaks the answer while it is generated (--voice) to a
// speaker (--speak) or one WAV file per answer (--say DIR). It prints what it heard, the
// answer, and per turn each brick's device, time and joules (runtime/assistant.h). With
// --battery / --power-mode it runs under the power policy: the mode of each turn is chosen
// from the battery before it (parallel / throttled / on-demand, runtime/assistant.h).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cli/commands.h"
#include "cli/option_checks.h"
#include "cli/text_escape.h"
#include "cli/text_options.h"
#include "runtime/assistant.h"
#include "runtime/speech_sinks.h"

namespace nm::cli {
namespace {

struct AssistOptions {
  TextOptions text;
  int n_predict = 128;
  std::string asr, vad, voice, camera, mic = "default", speak, say;
  std::string language = "auto";
  int beam_size = 5;
  int audio_ctx = 0;
  int max_turns = 0;
  int silence_ms = 600;
  bool mic_realtime = false;
  std::string battery, power_mode;  // the power policy
  double t_high = 0, t_low = 0;
};

// The text side through the C API: each question in a fresh conversation with the frame.
class SessionAnswers final : public AnswerTarget {
 public:
  SessionAnswers(nm_session* s, int n_predict) : s_(s), n_predict_(n_predict) {}

  Status answer(const std::string& question, const Image* frame, const std::function<void(std::string_view)>& on_piece,
                std::vector<BrickTime>* times) override {
    nm_session_reset(s_);
    auto cb = [](const char* piece, int32_t, void* user) {
      (*static_cast<const std::function<void(std::string_view)>*>(user))(piece);
      return 0;
    };
    void* user = const_cast<std::function<void(std::string_view)>*>(&on_piece);
    nm_status st;
    if (frame) {
      nm_image img{nullptr, frame->rgb.data(), frame->width, frame->height};
      st = nm_session_chat_images(s_, question.c_str(), &img, 1, n_predict_, cb, user);
    } else {
      st = nm_session_chat(s_, question.c_str(), n_predict_, cb, user);
    }
    if (st != NM_OK) return error(st == NM_ERR_OUT_OF_MEMORY ? ErrorCode::out_of_memory : ErrorCode::invalid_argument,
                                  nm_session_last_error(s_));
    nm_timings t{};
    nm_energy e{};
    (void)nm_session_get_timings(s_, &t);
    (void)nm_session_get_energy(s_, &e);
    const bool m = e.valid && e.measured;
    auto j = [&](double joules) { return e.valid ? joules : -1.0; };
    if (t.n_images > 0) times->push_back({"vision", t.vision_device, t.preprocess_ms + t.vision_ms, j(e.vision_joules), m});
    times->push_back({"prefill", t.text_device, t.prompt_ms, j(e.prefill_joules), m});
    times->push_back({"decode", t.text_device, t.generate_ms, j(e.decode_joules), m});
    return Status();
  }

  Status apply_power(energy::PowerMode mode, int threads) override {
    if (nm_session_set_power_mode(s_, static_cast<int32_t>(mode), threads) == NM_OK) return Status();
    return error(ErrorCode::invalid_argument, nm_session_last_error(s_));
  }

 private:
  nm_session* s_;
  int n_predict_;
};

void print_turn(const AssistantTurn& t) {
  std::string line = "[turn " + std::to_string(t.index);
  char buf[160];
  for (const BrickTime& b : t.bricks) {
    std::snprintf(buf, sizeof buf, b.ms < 10 ? " | %s %s %.1f ms" : " | %s %s %.0f ms", b.brick.c_str(), b.device.c_str(), b.ms);
    line += buf;
    if (b.joules >= 0) {
      std::snprintf(buf, sizeof buf, b.joules < 0.1 ? " %.3f J" : " %.2f J", b.joules);
      line += buf;
    }
  }
  if (t.first_audio_ms >= 0) {
    std::snprintf(buf, sizeof buf, " | first audio %.0f ms after the utterance ended", t.first_audio_ms);
    line += buf;
  }
  std::snprintf(buf, sizeof buf, " | done %.0f ms after", t.done_ms);
  line += buf;
  if (t.powered) {
    std::snprintf(buf, sizeof buf, " | %s, %d thread%s", energy::power_mode_name(t.mode), t.threads,
                  t.threads == 1 ? "" : "s");
    line += buf;
    if (std::isfinite(t.battery_level)) {
      std::snprintf(buf, sizeof buf, ", battery %.1f%%", t.battery_level * 100);
      line += buf;
    }
    if (!t.given_back.empty()) {
      line += ", given back:";
      for (const std::string& b : t.given_back) {
        line += " " + b;
        if (b == "asr") {  // measured: the process's resident memory fell by this much
          std::snprintf(buf, sizeof buf, " (%.0f KiB freed)", (double)t.asr_freed_bytes / 1024);
          line += buf;
        }
      }
    }
  }
  line += "]";
  std::fprintf(stderr, "%s\n", line.c_str());
  if (!t.energy_source.empty() && t.index == 1) {
    std::fprintf(stderr, "[joules: %s]\n", terminal_safe(t.energy_source).c_str());
  }
}

int assist(AssistOptions o) {
  if (o.asr.empty()) {
    std::fprintf(stderr, "error: assist needs a Whisper model: --asr ggml-base.bin (or a faster-whisper directory)\n");
    return 1;
  }
  if (!o.say.empty() && !o.speak.empty()) {
    std::fprintf(stderr, "error: speak either to a device (--speak) or into files (--say DIR), not both\n");
    return 1;
  }
  if ((!o.say.empty() || !o.speak.empty()) && o.voice.empty()) o.voice = "espeak";
  if (!o.voice.empty() && o.say.empty() && o.speak.empty()) o.speak = "default";
  std::unique_ptr<SpeechSink> sink;
  if (!o.say.empty()) {
    auto s = WavFolderSink::create(o.say);
    if (!s.ok()) {
      std::fprintf(stderr, "error: %s\n", terminal_safe(s.status().to_string()).c_str());
      return 1;
    }
    sink = std::move(*s);
  } else if (!o.speak.empty()) {
    auto sp = Speaker::open(o.speak);
    if (!sp.ok()) {
      std::fprintf(stderr, "error: %s\n", terminal_safe(sp.status().to_string()).c_str());
      return 1;
    }
    sink = std::make_unique<SpeakerSink>(std::move(*sp));
  }
  auto mic = open_audio_input(o.mic, kWhisperSampleRate, o.mic_realtime);
  if (!mic.ok()) {
    std::fprintf(stderr, "error: %s\n", terminal_safe(mic.status().to_string()).c_str());
    return 1;
  }
  std::unique_ptr<nm_model, decltype(&nm_model_free)> model(load_model_or_report(o.text), nm_model_free);
  if (!model) return 1;
  std::unique_ptr<nm_session, decltype(&nm_session_free)> session(open_session_or_report(model.get(), o.text),
                                                                 nm_session_free);
  if (!session) return 1;
  const TraceWriter trace(session.get(), o.text);
  SessionAnswers answers(session.get(), o.n_predict);

  AssistantConfig c;
  c.whisper = o.asr;
  c.devices = o.text.devices;  // audio=NAME,asr=NAME items place the Whisper bricks
  c.vad = o.vad;
  c.voice = o.voice;
  c.camera = o.camera;
  c.power_profile = o.text.power_profile;
  c.n_threads = o.text.n_threads > 0 ? o.text.n_threads : nm_default_threads();
  c.speech.whisper.language = o.language;
  c.speech.whisper.beam_size = o.beam_size;
  c.speech.whisper.audio_ctx = o.audio_ctx;
  c.speech.utterance_silence_ms = o.silence_ms;
  c.max_turns = o.max_turns;
  c.battery = o.battery;
  c.power_mode = o.power_mode;
  c.t_high = o.t_high;
  c.t_low = o.t_low;
  int n_changes = 0;
  c.power_log = [&n_changes](const std::string& line) {
    if (line.find(" -> ") != std::string::npos) ++n_changes;
    std::fprintf(stderr, "nanomind: power: %s\n", line.c_str());
  };
  auto a = Assistant::create(c, answers, sink.get());
  if (!a.ok()) {
    std::fprintf(stderr, "error: %s\n", terminal_safe(a.status().to_string()).c_str());
    return 1;
  }
  std::fprintf(stderr, "nanomind: listening on '%s' (%s); %s, encoder on %s, decoder on %s%s%s\n", o.mic.c_str(),
               o.vad.empty() ? "energy detector" : "Silero VAD", (*a)->asr_description().c_str(),
               (*a)->audio_device_name().c_str(), (*a)->asr_device_name().c_str(),
               o.camera.empty() ? "" : "; camera ", o.camera.c_str());
  bool answered_any = false, failed_any = false;
  const Status s = (*a)->run(
      **mic,
      [](const Utterance& u) {
        // Raw, as `transcribe` and `run` print what a model wrote.
        std::printf("you (%.1f-%.1f s): %s\n", u.t0, u.t1, u.text.c_str());
        std::fputs("nanomind: ", stdout);
        std::fflush(stdout);
      },
      [](std::string_view piece) {
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
      },
      [&](const AssistantTurn& t) {
        std::fputs("\n", stdout);
        std::fflush(stdout);
        if (!t.answer_error.ok()) {
          failed_any = true;
          std::fprintf(stderr, "error: turn %d was not answered: %s\n", t.index, terminal_safe(t.answer_error.message()).c_str());
        }
        answered_any = true;
        print_turn(t);
        return true;
      });
  if (!s.ok()) {
    std::fprintf(stderr, "\nerror: %s\n", terminal_safe(s.to_string()).c_str());
    return 1;
  }
  if (!answered_any) std::fprintf(stderr, "note: no speech was heard on '%s'\n", o.mic.c_str());
  if (const PowerStats* p = (*a)->power_stats()) {
    std::fprintf(stderr, "[power: %d mode change%s | joules (%s) parallel %.3g J in %.3g s, throttled %.3g J in %.3g s, "
                 "on-demand %.3g J in %.3g s]\n",
                 n_changes, n_changes == 1 ? "" : "s", p->measured ? "measured" : "ESTIMATED", p->joules[0],
                 p->seconds[0], p->joules[1], p->seconds[1], p->joules[2], p->seconds[2]);
  }
  return failed_any ? 1 : 0;
}

}  // namespace

void register_assist(CLI::App& app) {
  auto opts = std::make_shared<AssistOptions>();
  auto* cmd = app.add_subcommand("assist", "Voice assistant: hears a question, looks through the camera, answers aloud");
  add_model_options(*cmd, opts->text);
  add_sampling_options(*cmd, opts->text);
  add_device_option(*cmd, opts->text);
  cmd->add_option("--asr", opts->asr, "Whisper model: a ggml-*.bin file or a faster-whisper directory (required; default: none)");
  cmd->add_option("--vad", opts->vad, "Silero VAD v6 weights (silero_vad_16k.safetensors) (default: the energy detector)");
  cmd->add_option("--mic", opts->mic,
                  "Microphone: an ALSA capture device, or an audio file played as one (default: default)");
  cmd->add_flag("--mic-realtime", opts->mic_realtime,
                "Play a --mic file at its real rate, as a microphone delivers it, so listening between questions "
                "costs what it would live (default: as fast as it is read)");
  cmd->add_option("--camera", opts->camera,
                  "Camera: a folder (its last image in name order when a question ends) or a V4L2 device such "
                  "as /dev/video0 (default: none, questions without a picture)");
  cmd->add_option("--voice", opts->voice,
                  "Voice of the answers: a voice GGUF (tools/piper_to_gguf.py) or 'espeak' (default: espeak when "
                  "--speak or --say is given, else none: text only)");
  cmd->add_option("--speak", opts->speak,
                  "Speak the answers on this ALSA playback device (default: 'default' when --voice is given)");
  cmd->add_option("--say", opts->say, "Speak the answers into DIR/answer-N.wav instead (default: none)");
  cmd->add_option("-n,--n-predict", opts->n_predict, "Maximum tokens per answer (default 128)")
      ->check(int_in(1, NM_MAX_CTX, "1 to " + std::to_string(NM_MAX_CTX) + " tokens"));
  cmd->add_option("-l,--language", opts->language, "Spoken language code (en, de, ...) or auto (default auto)");
  cmd->add_option("--beam-size", opts->beam_size, "Whisper's beam size (1 = greedy; default 5)")
      ->check(int_in(1, 16, "1 to 16"));
  cmd->add_option("--audio-ctx", opts->audio_ctx,
                  "Whisper's encoder positions per utterance, 20 ms each: 0 = all 1500 (the 30 s window, as "
                  "Whisper; default), -1 = fitted to the utterance (a shorter wait for the answer; not the "
                  "reference computation), as transcribe --audio-ctx")
      ->check(CLI::Range(-1, 1500));
  cmd->add_option("--silence-ms", opts->silence_ms, "Silence that ends a question, in ms (default 600)")
      ->check(int_in(100, 10000, "100 to 10000 ms"));
  cmd->add_option("--max-turns", opts->max_turns, "Stop after this many answers (default 0: until the microphone ends)")
      ->check(int_in(0, 1 << 30, "0 (no limit) to 1073741824"));
  add_power_options(*cmd, opts->battery, opts->power_mode, opts->t_high, opts->t_low,
                    {"Run under the battery power policy: sim:2000mAh@3.7V,start=80% (a simulated battery drained by "
                     "each turn's joules), sysfs or sysfs:BAT0 (the fuel gauge), read before each answer; modes: "
                     "parallel above 50%, throttled (threads scaled by alpha) down to 20%, on-demand below (one brick at a time: "
                     "Whisper loaded for each utterance and given back once it is transcribed, the text bricks and the "
                     "voice given back after each answer; only the voice detector stays resident) (default: none)",
                     "auto (by the battery level, the default with --battery), parallel, throttled or on-demand",
                     "turns run"});
  cmd->callback([opts] { throw CLI::RuntimeError(assist(*opts)); });
}

}  // namespace nm::cli
