// Assistant: the loop of `nanomind assist` — listen, transcribe, look, answer, speak. A
// voice activity detector cuts utterances out of the microphone (an ALSA device, or a
// recording played as one); each is transcribed by the Whisper bricks as soon as it ends;
// the camera's current frame is grabbed; the text side (an AnswerTarget: the CLI answers
// through the C API's session, i.e. the runtime's pipeline of vision and text bricks)
// answers the transcript about the frame; the answer is spoken sentence by sentence while
// it is generated (SpeechStream), into the speaker sink. Each turn is reported with the
// time and joules of every brick it ran and the delay from the end of the utterance to the
// first spoken audio. The microphone is not read while a turn runs (the assistant does not
// hear itself; a live device's overrun is recovered).
// Power modes (a battery or a forced mode in the config): the assistant is the PowerTarget
// of a PowerController (runtime/power_controller.h), which reads the battery before each
// turn (draining a simulated one by the joules of the turns before) and sets the mode:
//   parallel   every brick resident, all threads;
//   throttled  resident, threads scaled by the policy's alpha (text bricks and the voice);
//   on-demand  one brick at a time: the Whisper bricks are loaded when the detector closes
//              an utterance and given back as soon as it is transcribed; the text side's
//              bricks and the voice are given back after every answer and loaded again for
//              the next (the AnswerTarget's apply_power; the voice here). Only the voice
//              activity detector stays resident between turns: it is what wakes them.
// Answers are the same in every mode, token for token and sample for
// sample (the kernels give the same bits for any thread count; each answer's voice noise
// starts from the seed).
// Not thread-safe: one thread runs an assistant.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bricks/tts/vits_model.h"
#include "bricks/vad/voice_activity.h"
#include "core/audio_capture.h"
#include "core/thread_pool.h"
#include "runtime/energy/energy_monitor.h"
#include "runtime/frame_source.h"
#include "runtime/power_controller.h"
#include "runtime/speech_input.h"
#include "runtime/speech_stream.h"
#include "runtime/whisper_transcribe.h"

namespace nm {

// One brick's share of a turn.
struct BrickTime {
  // "vad", "asr-load" (on-demand: the Whisper bricks loaded for the utterance), "audio",
  // "asr", "camera", "vision", "prefill", "decode", "tts"
  std::string brick;
  std::string device;  // where it ran ("cpu", "opencl", ...)
  double ms = 0;
  double joules = -1;  // < 0: not known
  bool measured = false;
};

// The text side of a turn.
class AnswerTarget {
 public:
  virtual ~AnswerTarget() = default;
  // Answers `question` about `frame` (null: no picture) in a fresh conversation, handing
  // the answer's text to on_piece as it is generated; appends the bricks it ran to *times.
  virtual Status answer(const std::string& question, const Image* frame,
                        const std::function<void(std::string_view)>& on_piece, std::vector<BrickTime>* times) = 0;
  // From the next answer on: `threads` threads; on-demand: give the bricks back after each
  // answer (and now), else keep them. Called between answers. A text side without power
  // modes refuses (the default), and an assistant with a power policy then fails to start.
  virtual Status apply_power(energy::PowerMode mode, int threads) {
    (void)threads;
    return error(ErrorCode::unsupported, std::string("this answering side has no power modes (asked for ") +
                                             energy::power_mode_name(mode) + ")");
  }
};

// Where spoken answers go: a speaker (ALSA) or one WAV file per turn.
class SpeechSink {
 public:
  virtual ~SpeechSink() = default;
  virtual Status begin_turn(int turn) = 0;
  virtual Status write(std::span<const float> samples, int sample_rate) = 0;
  virtual Status end_turn() = 0;
};

struct AssistantConfig {
  std::string whisper;       // ggml-*.bin file or CTranslate2 directory
  std::string devices;       // placement of the Whisper bricks ("", "opencl", "audio=opencl,asr=cpu")
  std::string vad;           // Silero VAD file; "": the energy detector
  std::string voice;         // voice GGUF, "espeak", or "" (no speech out)
  std::string camera;        // folder or /dev/videoN; "": no picture
  std::string power_profile; // the energy estimate's profile ("": this machine's; "none": off)
  int n_threads = 1;         // Whisper and the voice
  SpeechOptions speech;      // decoding options, utterance cutting
  int max_turns = 0;         // stop after this many answered utterances (0: until the input ends)
  // Power modes: a battery ("sim:2000mAh@3.7V,start=80%", a fuel gauge: energy/battery.h)
  // and/or a mode ("auto", "parallel", "throttled", "on-demand"); both "": no policy.
  std::string battery, power_mode;
  double t_high = 0, t_low = 0;  // thresholds in % (both 0: the policy's defaults)
  std::function<void(const std::string&)> power_log;  // mode changes; default stderr
};

struct AssistantTurn {
  int index = 0;             // 1, 2, ...
  Utterance heard;
  std::string frame_name;    // "" without a camera
  std::string answer;
  std::vector<BrickTime> bricks;
  double first_audio_ms = -1;  // end of the utterance -> first samples to the sink (< 0: none)
  double done_ms = 0;          // end of the utterance -> answer spoken
  bool energy_measured = false;
  std::string energy_source;   // what the speech bricks' joules come from ("" : none)
  // Why the text side could not answer (a question too long for the context, ...): the
  // turn is reported and the assistant listens on.
  Status answer_error;
  // Under a power policy: the mode the turn ran in, the battery level read before it
  // (NaN: none), the threads, and the bricks given back after it (on-demand).
  bool powered = false;
  energy::PowerMode mode = energy::PowerMode::parallel;
  double battery_level = 0;
  int threads = 0;
  std::vector<std::string> given_back;
  size_t asr_freed_bytes = 0;  // on-demand: the process's resident memory drop as Whisper was given back
};

class Assistant final : public PowerTarget {
 public:
  static Result<std::unique_ptr<Assistant>> create(const AssistantConfig& config, AnswerTarget& target,
                                                   SpeechSink* sink);
  ~Assistant() override;

  // Listens to `mic` until it ends, max_turns, or on_turn returns false. on_heard is called
  // with each transcript before it is answered, on_piece with the answer as generated,
  // on_turn with the finished turn. An utterance with no words is skipped.
  Status run(AudioSource& mic, const std::function<void(const Utterance&)>& on_heard,
             const std::function<void(std::string_view)>& on_piece,
             const std::function<bool(const AssistantTurn&)>& on_turn);

  // The Whisper model ("ggml base, 74 M parameters, ...") and where its two bricks run.
  const std::string& asr_description() const { return asr_description_; }
  const std::string& audio_device_name() const { return audio_device_; }
  const std::string& asr_device_name() const { return asr_device_; }
  int turns() const { return turns_; }
  // The power policy's counts (answers, joules and seconds per mode); null without one.
  const PowerStats* power_stats() const { return power_ ? &power_->stats() : nullptr; }

  // PowerTarget (the controller calls it before a turn).
  Status apply(energy::PowerMode mode, int threads) override;

 private:
  Assistant(const AssistantConfig& c, AnswerTarget& t, SpeechSink* s) : config_(c), target_(t), sink_(s) {}
  Result<bool> turn(const Utterance& u, const std::function<void(std::string_view)>& on_piece,
                    const std::function<bool(const AssistantTurn&)>& on_turn);
  // Joules of `ms` of a brick's work with `threads` threads, from the estimate (< 0 without one).
  double estimate_joules(const std::string& device, double ms, int threads, const std::string& kind);
  Status load_voice();  // the voice and its stream, with voice_threads_ threads
  void release_voice();
  Status load_asr();  // the Whisper bricks (again, after on-demand gave them back)
  TranscriberLease asr_lease();  // what the live transcription takes the bricks from

  AssistantConfig config_;
  AnswerTarget& target_;
  SpeechSink* sink_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<WhisperTranscriber> asr_;  // null while on-demand has given it back
  std::string asr_description_, audio_device_, asr_device_;
  double asr_load_ms_ = 0;       // loading the Whisper bricks for the utterance being answered
  bool asr_given_back_ = false;  // ... and giving them back after it was transcribed
  size_t asr_freed_bytes_ = 0;    // resident memory that giving them back freed
  std::unique_ptr<VoiceActivityDetector> vad_;
  std::unique_ptr<VitsModel> voice_;
  std::unique_ptr<SpeechStream> speech_;
  std::unique_ptr<energy::EnergyMonitor> energy_;
  std::unique_ptr<energy::BatterySource> battery_;
  std::unique_ptr<PowerController> power_;  // after what it drives and reads: destroyed first
  energy::PowerMode mode_ = energy::PowerMode::parallel;
  int voice_threads_ = 1;
  int turns_ = 0;
};

}  // namespace nm
