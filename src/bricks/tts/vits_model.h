// VitsModel: the `tts` brick — a Piper (VITS) voice converted to GGUF by
// tools/piper_to_gguf.py (keys vits.* and tts.*, tensors named as the PyTorch modules, in
// their layouts: tools/vits_gguf.py). It holds the hyper-parameters, weight views into the
// mmapped file and the voice's settings (sample rate, noise and length scales, espeak voice,
// phoneme_id_map). A run is two graphs (vits_graph.h): the encoder graph (phoneme ids ->
// prior means and log-durations) and the decoder graph (one latent frame per 256 samples ->
// waveform); between them the runtime turns durations into frames (runtime/speech_synth.h).
// Read-only after load; shared by every session from any thread.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bricks/brick.h"

namespace nm {

struct VitsHparams {
  int n_vocab = 0, hidden = 0, inter = 0, filter = 0, n_heads = 0, n_layers = 0, kernel = 0, window = 0;
  float eps = 1e-5f;
  int dp_filter = 0, dp_kernel = 0, dp_layers = 0, dp_bins = 0;
  float dp_tail_bound = 5.0f;
  std::vector<int> dp_flow_ids;  // ConvFlow modules in the order the reverse pass runs them
  int flow_n = 0, flow_wn_layers = 0, flow_kernel = 0, flow_dilation_rate = 1;
  int dec_initial = 0;
  std::vector<int> up_rates, up_kernels, res_kernels;
  std::vector<std::vector<int>> res_dilations;  // per resblock kernel
  float lrelu_slope = 0.1f, final_lrelu_slope = 0.01f;
  int hop() const;  // waveform samples per latent frame (product of the upsample rates)
};

struct VoiceSettings {
  int sample_rate = 22050;
  float noise_scale = 0.667f, length_scale = 1.0f, noise_w = 0.8f;
  std::string espeak_voice;            // e.g. "en-us"
  std::map<std::string, int> phoneme_ids;  // one phoneme (UTF-8) -> id
};

class VitsModel final : public Brick {
 public:
  static Result<std::unique_ptr<VitsModel>> load(const std::string& path);
  static Result<std::unique_ptr<VitsModel>> from_gguf(std::shared_ptr<const GgufFile> file);

  // ---- Brick. Input: in.n_tokens phoneme ids (BOS/pad/EOS included). Output: in.n_samples
  // PCM samples when the caller knows them (the duration predictor decides; 0 otherwise).
  // build_graph: shape.width == 0 -> the encoder graph of shape.n_tokens phonemes;
  // shape.width > 0 -> the decoder graph of shape.width latent frames.
  BrickKind kind() const override { return BrickKind::tts; }
  std::string description() const override;
  std::vector<const GgufFile*> files() const override { return {file_.get()}; }
  size_t weight_bytes() const override { return weight_bytes_; }
  Result<std::vector<PortSpec>> inputs(const BrickInput& in) const override;
  Result<std::vector<PortSpec>> outputs(const BrickInput& in) const override;
  Result<BrickCost> cost(const BrickInput& in) const override;
  Result<std::unique_ptr<BrickGraph>> build_graph(const GraphShape& shape, const KvCache* kv) const override;

  const VitsHparams& hparams() const { return hp_; }
  const VoiceSettings& voice() const { return voice_; }
  // A weight by its PyTorch name; the name must be one load() checked (else a null tensor).
  const Tensor& w(const std::string& name) const;
  bool has(const std::string& name) const { return w_.count(name) != 0; }

 private:
  VitsModel() = default;
  Status load_hparams();
  Status load_weights();

  std::shared_ptr<const GgufFile> file_;
  VitsHparams hp_;
  VoiceSettings voice_;
  std::map<std::string, Tensor> w_;
  size_t weight_bytes_ = 0;
};

}  // namespace nm
