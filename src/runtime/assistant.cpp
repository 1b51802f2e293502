// The listen -> transcribe -> look -> answer -> speak loop (see assistant.h).
#include "runtime/assistant.h"

#include <algorithm>
#include <chrono>

#include "runtime/energy/machine_energy.h"

namespace nm {
namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace

Assistant::~Assistant() {
  if (speech_) (void)speech_->finish();
}

Result<std::unique_ptr<Assistant>> Assistant::create(const AssistantConfig& config, AnswerTarget& target,
                                                     SpeechSink* sink) {
  if (config.whisper.empty()) return error(ErrorCode::invalid_argument, "assist needs a Whisper model (--asr)");
  if (!config.voice.empty() && !sink) return error(ErrorCode::invalid_argument, "a voice needs somewhere to speak");
  if (!config.camera.empty()) {
    // A camera that cannot give a picture is an error now, not at the first question.
    Result<Frame> f = grab_frame(config.camera);
    if (!f.ok()) return error(f.status().code(), "camera: " + f.status().message());
  }
  std::unique_ptr<Assistant> a(new Assistant(config, target, sink));
  a->pool_ = std::make_unique<ThreadPool>(std::max(1, config.n_threads));
  NM_ASSIGN_OR_RETURN(std::shared_ptr<const WhisperModel> model, WhisperModel::load(config.whisper));
  WhisperPlacement where;
  where.devices = config.devices;
  const int seqs = std::max({1, config.speech.whisper.beam_size, config.speech.whisper.best_of});
  NM_ASSIGN_OR_RETURN(a->asr_, WhisperTranscriber::create(std::move(model), where,
                                                          std::min(seqs, 16)));
  if (config.vad.empty()) {
    a->vad_ = make_energy_vad();
  } else {
    NM_ASSIGN_OR_RETURN(a->vad_, load_silero_vad(config.vad));
  }
  if (!config.voice.empty()) {
    SpeechStreamParams sp;
    if (config.voice != "espeak") {
      NM_ASSIGN_OR_RETURN(a->voice_, VitsModel::load(config.voice));
      sp.voice = a->voice_.get();
    }
    sp.n_threads = std::max(1, config.n_threads);
    SpeechSink* s = sink;
    NM_ASSIGN_OR_RETURN(a->speech_, SpeechStream::create(sp, [s](std::span<const float> pcm, int rate) {
                          return s->write(pcm, rate);
                        }));
  }
  if (config.power_profile != "none") {
    auto e = energy::open_machine_energy(config.power_profile, [](const std::string&) {});
    if (!e.ok()) return e.status();
    if ((*e)->has_meter()) a->energy_ = std::move(*e);
  }
  return a;
}

double Assistant::estimate_joules(const std::string& device, double ms, int threads, const std::string& kind) {
  if (!energy_ || energy_->measuring()) return -1;
  energy::EnergySpan span = energy_->begin();
  energy_->note_busy(device, ms / 1000.0, threads, kind);
  Result<energy::EnergyReading> r = span.finish();
  return r.ok() ? r->joules : -1;
}

Status Assistant::run(AudioSource& mic, const std::function<void(const Utterance&)>& on_heard,
                      const std::function<void(std::string_view)>& on_piece,
                      const std::function<bool(const AssistantTurn&)>& on_turn) {
  SpeechOptions so = config_.speech;
  Status failed;
  so.on_utterance = [&](const Utterance& u) {
    if (u.text.empty()) return true;  // a cough, a door: nothing to answer
    if (on_heard) on_heard(u);
    Result<bool> more = turn(u, on_piece, on_turn);
    if (!more.ok()) {
      failed = more.status();
      return false;
    }
    return *more && (config_.max_turns <= 0 || turns_ < config_.max_turns);
  };
  NM_RETURN_IF_ERROR(transcribe_live(*asr_, mic, *vad_, so, *pool_, nullptr));
  return failed;
}

Result<bool> Assistant::turn(const Utterance& u, const std::function<void(std::string_view)>& on_piece,
                             const std::function<bool(const AssistantTurn&)>& on_turn) {
  AssistantTurn t;
  t.index = ++turns_;
  t.heard = u;
  const int threads = pool_->size();
  const std::string audio_dev = asr_->audio_device_name(), asr_dev = asr_->asr_device_name();
  auto add = [&](const std::string& brick, const std::string& device, double ms, int n_threads) {
    t.bricks.push_back({brick, device, ms, estimate_joules(device, ms, n_threads, device == "cpu" ? "cpu" : ""), false});
  };
  add("vad", "cpu", u.vad_ms, 1);
  add("audio", audio_dev, u.transcript.mel_ms + u.transcript.encode_ms, threads);
  add("asr", asr_dev, u.transcript.decode_ms, threads);
  energy::EnergySpan whole;  // with a sensor: the turn after transcription, measured
  if (energy_ && energy_->measuring()) whole = energy_->begin();

  // The camera's frame now.
  Result<Frame> frame = error(ErrorCode::invalid_argument, "no camera");
  if (!config_.camera.empty()) {
    const auto t_cam = Clock::now();
    frame = grab_frame(config_.camera);
    if (!frame.ok()) return frame.status();
    t.frame_name = frame->name;
    add("camera", "cpu", ms_between(t_cam, Clock::now()), 1);
  }

  // The answer, spoken while it is generated.
  const auto t_speech = Clock::now();
  if (speech_) {
    speech_->begin_turn();
    NM_RETURN_IF_ERROR(sink_->begin_turn(t.index));
  }
  const double synth_before = speech_ ? speech_->synth_ms() : 0.0;
  const auto t_answer = Clock::now();
  std::vector<BrickTime> text_bricks;
  Status answered = target_.answer(
      u.text, frame.ok() ? &frame->image.value() : nullptr,
      [&](std::string_view piece) {
        t.answer.append(piece);
        if (on_piece) on_piece(piece);
        if (speech_) speech_->push(piece);
      },
      &text_bricks);
  Status spoken;
  if (speech_) {
    spoken = speech_->drain();
    if (spoken.ok()) spoken = sink_->end_turn();
  }
  NM_RETURN_IF_ERROR(spoken);
  t.answer_error = answered;
  const auto t_done = Clock::now();
  t.bricks.insert(t.bricks.end(), text_bricks.begin(), text_bricks.end());
  if (speech_) {
    add("tts", "cpu", speech_->synth_ms() - synth_before, threads);
    // first_audio_ms counts from begin_turn().
    if (speech_->first_audio_ms() >= 0) t.first_audio_ms = ms_between(u.ended, t_speech) + speech_->first_audio_ms();
  }
  t.done_ms = ms_between(u.ended, t_done);
  if (whole.open()) {
    Result<energy::EnergyReading> r = whole.finish();
    if (r.ok()) {
      t.bricks.push_back({"turn", "machine", ms_between(t_answer, t_done), r->joules, r->measured});
      t.energy_measured = r->measured;
      t.energy_source = r->source;
    }
  } else if (energy_) {
    t.energy_source = energy::describe_energy_source(*energy_);
  }
  return on_turn ? on_turn(t) : true;
}

}  // namespace nm
