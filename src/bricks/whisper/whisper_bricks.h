// Whisper as two bricks of the runtime (bricks/brick.h): `audio` — 16 kHz PCM, through the
// log-mel front end, into encoder states (1500 per 30 s window) — and `asr` — encoder
// states into tokens through the decoder. Both share one WhisperModel (its weights arena);
// each counts only its own weights. The audio brick is the one to place on an NPU or GPU
// (one fixed shape per window); the decoder stays on the CPU. The runtime side — running
// the graphs, the decoding loop — is runtime/whisper_context.h and whisper_transcribe.h.
// Thread-safety: read-only after construction.
#pragma once

#include <memory>

#include "bricks/brick.h"
#include "bricks/whisper/whisper_graph.h"

namespace nm {

// What both bricks share: the model and their weight count.
class WhisperBrick : public Brick {
 public:
  // Whisper's files are copied into an arena at load (neither format aligns its tensors):
  // no file pages to advise, pack or release.
  std::vector<const GgufFile*> files() const override { return {}; }
  size_t weight_bytes() const override { return weight_bytes_; }
  const WhisperModel& model() const { return *model_; }

 protected:
  explicit WhisperBrick(std::shared_ptr<const WhisperModel> model) : model_(std::move(model)) {}
  std::shared_ptr<const WhisperModel> model_;
  size_t weight_bytes_ = 0;  // of the tensors this brick uses
};

class WhisperAudioBrick final : public WhisperBrick {
 public:
  explicit WhisperAudioBrick(std::shared_ptr<const WhisperModel> model);
  BrickKind kind() const override { return BrickKind::audio; }
  std::string description() const override;
  // in.n_samples: 16 kHz samples. Outputs: 1500 states per 30 s window started.
  Result<std::vector<PortSpec>> inputs(const BrickInput& in) const override;
  Result<std::vector<PortSpec>> outputs(const BrickInput& in) const override;
  Result<BrickCost> cost(const BrickInput& in) const override;
  // One shape: a 30 s window.
  Result<std::unique_ptr<BrickGraph>> build_graph(const GraphShape& shape, const KvCache* kv) const override;

  static int64_t windows(int64_t n_samples);
  double encoder_flops() const;
};

class WhisperAsrBrick final : public WhisperBrick {
 public:
  explicit WhisperAsrBrick(std::shared_ptr<const WhisperModel> model);
  BrickKind kind() const override { return BrickKind::asr; }
  std::string description() const override;
  // in.n_samples: the audio the states came from; in.n_tokens: tokens to decode (0: the
  // window limit, 224 per window). Inputs: the encoder states; outputs: token ids.
  Result<std::vector<PortSpec>> inputs(const BrickInput& in) const override;
  Result<std::vector<PortSpec>> outputs(const BrickInput& in) const override;
  Result<BrickCost> cost(const BrickInput& in) const override;
  // shape.n_tokens new tokens of one sequence over shape.n_kv cache positions (a layout of
  // one sequence, F16 K/V); beams are the runtime's (WhisperDecoder builds those graphs).
  Result<std::unique_ptr<BrickGraph>> build_graph(const GraphShape& shape, const KvCache* kv) const override;
};

}  // namespace nm
