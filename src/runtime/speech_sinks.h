// Where the assistant's spoken answers go (runtime/assistant.h's SpeechSink): one WAV file
// per answer in a folder (`--say DIR`: DIR/answer-1.wav, answer-2.wav, ...), or a speaker
// (`--speak DEVICE`, ALSA), played as each sentence is synthesised.
// Not thread-safe: the assistant writes from its speech worker, one turn at a time.
#pragma once

#include <memory>
#include <string>

#include "core/audio_playback.h"
#include "core/wav_writer.h"
#include "runtime/assistant.h"

namespace nm {

class WavFolderSink final : public SpeechSink {
 public:
  // Error when `dir` is not a writable folder.
  static Result<std::unique_ptr<WavFolderSink>> create(const std::string& dir);
  Status begin_turn(int turn) override;
  Status write(std::span<const float> samples, int sample_rate) override;
  Status end_turn() override;
  // The file of the current (or last) turn.
  const std::string& path() const { return path_; }

 private:
  explicit WavFolderSink(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_, path_;
  WavWriter wav_;
  bool open_ = false;
};

class SpeakerSink final : public SpeechSink {
 public:
  explicit SpeakerSink(std::unique_ptr<Speaker> speaker) : speaker_(std::move(speaker)) {}
  Status begin_turn(int) override { return Status(); }
  Status write(std::span<const float> samples, int sample_rate) override { return speaker_->write(samples, sample_rate); }
  // Waits until the answer has been heard, so the microphone does not hear it.
  Status end_turn() override { return speaker_->drain(); }

 private:
  std::unique_ptr<Speaker> speaker_;
};

}  // namespace nm
