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
#include "runtime/speech_input.h"
#include "runtime/speech_stream.h"
#include "runtime/whisper_transcribe.h"

namespace nm {

// One brick's share of a turn.
struct BrickTime {
  std::string brick;   // "vad", "audio", "asr", "camera", "vision", "prefill", "decode", "tts"
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
};

class Assistant {
 public:
  static Result<std::unique_ptr<Assistant>> create(const AssistantConfig& config, AnswerTarget& target,
                                                   SpeechSink* sink);
  ~Assistant();

  // Listens to `mic` until it ends, max_turns, or on_turn returns false. on_heard is called
  // with each transcript before it is answered, on_piece with the answer as generated,
  // on_turn with the finished turn. An utterance with no words is skipped.
  Status run(AudioSource& mic, const std::function<void(const Utterance&)>& on_heard,
             const std::function<void(std::string_view)>& on_piece,
             const std::function<bool(const AssistantTurn&)>& on_turn);

  const WhisperTranscriber& transcriber() const { return *asr_; }
  int turns() const { return turns_; }

 private:
  Assistant(const AssistantConfig& c, AnswerTarget& t, SpeechSink* s) : config_(c), target_(t), sink_(s) {}
  Result<bool> turn(const Utterance& u, const std::function<void(std::string_view)>& on_piece,
                    const std::function<bool(const AssistantTurn&)>& on_turn);
  // Joules of `ms` of a brick's work with `threads` threads, from the estimate (< 0 without one).
  double estimate_joules(const std::string& device, double ms, int threads, const std::string& kind);

  AssistantConfig config_;
  AnswerTarget& target_;
  SpeechSink* sink_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<WhisperTranscriber> asr_;
  std::unique_ptr<VoiceActivityDetector> vad_;
  std::unique_ptr<VitsModel> voice_;
  std::unique_ptr<SpeechStream> speech_;
  std::unique_ptr<energy::EnergyMonitor> energy_;
  int turns_ = 0;
};

}  // namespace nm
