// The listen -> transcribe -> look -> answer -> speak loop (see assistant.h).
#include "runtime/assistant.h"

#include <algorithm>
#include <chrono>

#include "core/process_memory.h"
#include "runtime/energy/battery.h"
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
  NM_RETURN_IF_ERROR(a->load_asr());
  a->asr_description_ = a->asr_->model().describe();
  a->audio_device_ = a->asr_->audio_device_name();
  a->asr_device_ = a->asr_->asr_device_name();
  a->asr_load_ms_ = 0;  // turns report the loads that on-demand makes for them
  if (config.vad.empty()) {
    a->vad_ = make_energy_vad();
  } else {
    NM_ASSIGN_OR_RETURN(a->vad_, load_silero_vad(config.vad));
  }
  a->voice_threads_ = std::max(1, config.n_threads);
  NM_RETURN_IF_ERROR(a->load_voice());  // now, so that a bad voice file is an error before listening
  if (config.power_profile != "none") {
    auto e = energy::open_machine_energy(config.power_profile, [](const std::string&) {});
    if (!e.ok()) return e.status();
    if ((*e)->has_meter()) a->energy_ = std::move(*e);
  }
  if (!config.battery.empty() || !config.power_mode.empty()) {
    PowerControllerOptions o;
    if (!config.battery.empty()) {
      NM_ASSIGN_OR_RETURN(energy::BatterySpec spec, energy::parse_battery_spec(config.battery));
      NM_ASSIGN_OR_RETURN(a->battery_, energy::open_battery(spec, ""));
    }
    if (!config.power_mode.empty()) {
      NM_ASSIGN_OR_RETURN(o.policy.choice, energy::parse_power_mode(config.power_mode));
    }
    if (config.t_high != 0 || config.t_low != 0) {
      o.policy.t_high = config.t_high / 100;
      o.policy.t_low = config.t_low / 100;
    }
    o.max_threads = std::max(1, config.n_threads);
    o.log = config.power_log;
    // Applies the first mode now (on-demand: the voice is given back until a turn needs it).
    NM_ASSIGN_OR_RETURN(a->power_, PowerController::create(o, a->battery_.get(), a->energy_.get(),
                                                           static_cast<PowerTarget*>(a.get())));
  }
  return a;
}

Status Assistant::load_asr() {
  if (asr_) return Status::ok_status();
  const auto t0 = Clock::now();
  NM_ASSIGN_OR_RETURN(std::shared_ptr<const WhisperModel> model, WhisperModel::load(config_.whisper));
  WhisperPlacement where;
  where.devices = config_.devices;
  const int seqs = std::max({1, config_.speech.whisper.beam_size, config_.speech.whisper.best_of});
  NM_ASSIGN_OR_RETURN(asr_, WhisperTranscriber::create(std::move(model), where, std::min(seqs, 16)));
  asr_load_ms_ += ms_between(t0, Clock::now());
  return Status::ok_status();
}

TranscriberLease Assistant::asr_lease() {
  TranscriberLease lease;
  lease.acquire = [this]() -> Result<WhisperTranscriber*> {
    NM_RETURN_IF_ERROR(load_asr());  // on-demand: the utterance has ended, the bricks load now
    return asr_.get();
  };
  lease.release = [this]() {
    if (mode_ != energy::PowerMode::on_demand) return;
    // Measured, not assumed: the weights' arena and the packed copies are unmapped here.
    Result<size_t> before = resident_bytes();
    asr_.reset();
    Result<size_t> after = resident_bytes();
    asr_freed_bytes_ = before.ok() && after.ok() && *before > *after ? *before - *after : 0;
    asr_given_back_ = true;
  };
  return lease;
}

Status Assistant::load_voice() {
  if (config_.voice.empty() || speech_) return Status::ok_status();
  SpeechStreamParams sp;
  if (config_.voice != "espeak") {
    NM_ASSIGN_OR_RETURN(voice_, VitsModel::load(config_.voice));
    sp.voice = voice_.get();
  }
  sp.n_threads = voice_threads_;
  SpeechSink* s = sink_;
  NM_ASSIGN_OR_RETURN(speech_, SpeechStream::create(sp, [s](std::span<const float> pcm, int rate) {
                        return s->write(pcm, rate);
                      }));
  return Status::ok_status();
}

void Assistant::release_voice() {
  if (speech_) (void)speech_->finish();  // idle between turns: nothing is left to speak
  speech_.reset();
  voice_.reset();
}

Status Assistant::apply(energy::PowerMode mode, int threads) {
  NM_RETURN_IF_ERROR(target_.apply_power(mode, threads));
  mode_ = mode;
  if (mode == energy::PowerMode::on_demand) {
    asr_.reset();  // loaded again when the detector closes an utterance
  } else {
    NM_RETURN_IF_ERROR(load_asr());  // resident again
  }
  if (threads != voice_threads_ || mode == energy::PowerMode::on_demand) release_voice();
  voice_threads_ = threads;
  return mode == energy::PowerMode::on_demand ? Status::ok_status() : load_voice();  // resident again
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
  NM_RETURN_IF_ERROR(transcribe_live(asr_lease(), mic, *vad_, so, *pool_, nullptr));
  return failed;
}

Result<bool> Assistant::turn(const Utterance& u, const std::function<void(std::string_view)>& on_piece,
                             const std::function<bool(const AssistantTurn&)>& on_turn) {
  AssistantTurn t;
  t.index = ++turns_;
  t.heard = u;
  const int threads = pool_->size();
  auto add = [&](const std::string& brick, const std::string& device, double ms, int n_threads) {
    t.bricks.push_back({brick, device, ms, estimate_joules(device, ms, n_threads, device == "cpu" ? "cpu" : ""), false});
  };
  add("vad", "cpu", u.vad_ms, 1);
  if (asr_given_back_) add("asr-load", "cpu", asr_load_ms_, 1);  // on-demand: loaded for this utterance
  add("audio", audio_device_, u.transcript.mel_ms + u.transcript.encode_ms, threads);
  add("asr", asr_device_, u.transcript.decode_ms, threads);
  if (power_) {  // the battery now (drained by the turns before), and the mode of this turn
    NM_RETURN_IF_ERROR(power_->refresh());
    t.powered = true;
    t.mode = power_->mode();
    t.battery_level = power_->battery_level();
    t.threads = voice_threads_;
  }
  NM_RETURN_IF_ERROR(load_voice());  // on-demand: loaded for this turn
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
  if (energy_ && !energy_->measuring()) {  // the estimate behind a simulated battery sees the text bricks too
    for (const BrickTime& b : text_bricks) {
      energy_->note_busy(b.device, b.ms / 1000.0, voice_threads_, b.device == "cpu" ? "cpu" : "");
    }
  }
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
  if (asr_given_back_) {  // on-demand: as soon as the utterance was transcribed
    t.given_back = {"audio", "asr"};
    t.asr_freed_bytes = asr_freed_bytes_;
  }
  asr_given_back_ = false;
  asr_load_ms_ = 0;
  if (power_) {
    if (mode_ == energy::PowerMode::on_demand) {  // the text side gave its bricks back after the answer
      if (frame.ok()) t.given_back.push_back("vision");
      t.given_back.push_back("text");
      if (speech_) {
        release_voice();
        t.given_back.push_back("tts");
      }
    }
  }
  return on_turn ? on_turn(t) : true;
}

}  // namespace nm
