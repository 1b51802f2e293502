// Silero VAD v6 (16 kHz), from silero_vad_16k.safetensors as the silero-vad package ships it
// (its model: silero_vad/tinygrad_model.py). Per 512-sample chunk, with the previous 64
// samples in front and 64 reflected samples behind: a learned STFT (a stride-128 convolution
// with 258 kernels of 256: real and imaginary parts of 129 bins) -> magnitudes -> four
// 1-D convolutions with ReLU (strides 1, 2, 2, 1: 4 frames down to 1) -> an LSTM cell
// (128 units; its state carries from chunk to chunk) -> ReLU -> a 1x1 convolution ->
// sigmoid. About 0.6 M multiply-adds per 32 ms: scalar kernels on the caller's thread.
#include <cmath>
#include <cstring>

#include "bricks/vad/voice_activity.h"
#include "core/mapped_file.h"
#include "core/safetensors.h"
#include "kernels/ops.h"

namespace nm {
namespace {

constexpr int kContext = 64, kPad = 64, kFft = 256, kHop = 128, kBins = kFft / 2 + 1, kHidden = 128;
constexpr int kInput = kContext + VoiceActivityDetector::kChunk + kPad;  // 640
constexpr int kFrames = (kInput - kFft) / kHop + 1;                      // 4

struct Conv {
  std::vector<float> w, b;
  int c_in, c_out, stride;
};

float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

class SileroVad final : public VoiceActivityDetector {
 public:
  Status load(const SafeTensorsFile& f) {
    NM_ASSIGN_OR_RETURN(stft_, f.get_f32("stft_conv.weight", {2 * kBins, 1, kFft}));
    const struct { const char* name; int c_in, c_out, stride; } convs[4] = {
        {"conv1", kBins, 128, 1}, {"conv2", 128, 64, 2}, {"conv3", 64, 64, 2}, {"conv4", 64, kHidden, 1}};
    for (int i = 0; i < 4; ++i) {
      Conv& c = conv_[i];
      c.c_in = convs[i].c_in;
      c.c_out = convs[i].c_out;
      c.stride = convs[i].stride;
      NM_ASSIGN_OR_RETURN(c.w, f.get_f32(std::string(convs[i].name) + ".weight", {c.c_out, c.c_in, 3}));
      NM_ASSIGN_OR_RETURN(c.b, f.get_f32(std::string(convs[i].name) + ".bias", {c.c_out}));
    }
    NM_ASSIGN_OR_RETURN(w_ih_, f.get_f32("lstm_cell.weight_ih", {4 * kHidden, kHidden}));
    NM_ASSIGN_OR_RETURN(w_hh_, f.get_f32("lstm_cell.weight_hh", {4 * kHidden, kHidden}));
    NM_ASSIGN_OR_RETURN(b_ih_, f.get_f32("lstm_cell.bias_ih", {4 * kHidden}));
    NM_ASSIGN_OR_RETURN(b_hh_, f.get_f32("lstm_cell.bias_hh", {4 * kHidden}));
    NM_ASSIGN_OR_RETURN(w_out_, f.get_f32("final_conv.weight", {1, kHidden, 1}));
    NM_ASSIGN_OR_RETURN(b_out_, f.get_f32("final_conv.bias", {1}));
    for (const std::vector<float>* v : {&stft_, &w_ih_, &w_hh_, &b_ih_, &b_hh_, &w_out_, &b_out_}) {
      for (float x : *v) {
        if (!std::isfinite(x)) return error(ErrorCode::invalid_file, "Silero VAD weights hold a non-finite value");
      }
    }
    reset();
    return Status();
  }

  float speech_probability(const float* chunk) override {
    float x[kInput];
    std::memcpy(x, context_, sizeof context_);
    std::memcpy(x + kContext, chunk, VoiceActivityDetector::kChunk * sizeof(float));
    const int n = kContext + VoiceActivityDetector::kChunk;
    for (int i = 0; i < kPad; ++i) x[n + i] = x[n - 2 - i];  // reflection, edge not repeated
    std::memcpy(context_, x + n - kContext, sizeof context_);

    float spec[2 * kBins * kFrames];
    (void)kernels::conv1d(x, stft_.data(), nullptr, {1, kInput, 2 * kBins, kFft, kHop, 0}, spec, 0, 1);
    float a[kBins * kFrames], b[kBins * kFrames];
    for (int i = 0; i < kBins * kFrames; ++i) a[i] = std::sqrt(spec[i] * spec[i] + spec[kBins * kFrames + i] * spec[kBins * kFrames + i]);
    int len = kFrames;
    float* in = a;
    float* out = b;
    for (const Conv& c : conv_) {
      const kernels::Conv1dShape s{c.c_in, len, c.c_out, 3, c.stride, 1};
      (void)kernels::conv1d(in, c.w.data(), c.b.data(), s, out, 0, 1);
      len = (int)s.l_out();
      for (int i = 0; i < c.c_out * len; ++i) out[i] = std::max(out[i], 0.0f);
      std::swap(in, out);
    }
    // in: [128, 1]. LSTM cell, gates in PyTorch's order (input, forget, cell, output).
    float g[4 * kHidden];
    for (int r = 0; r < 4 * kHidden; ++r) {
      float s = b_ih_[(size_t)r] + b_hh_[(size_t)r];
      const float* wi = w_ih_.data() + (size_t)r * kHidden;
      const float* wh = w_hh_.data() + (size_t)r * kHidden;
      for (int k = 0; k < kHidden; ++k) s += wi[k] * in[k] + wh[k] * h_[k];
      g[r] = s;
    }
    float y = b_out_[0];
    for (int k = 0; k < kHidden; ++k) {
      const float i = sigmoid(g[k]), f = sigmoid(g[kHidden + k]), cg = std::tanh(g[2 * kHidden + k]),
                  o = sigmoid(g[3 * kHidden + k]);
      c_[k] = f * c_[k] + i * cg;
      h_[k] = o * std::tanh(c_[k]);
      y += w_out_[(size_t)k] * std::max(h_[k], 0.0f);
    }
    return sigmoid(y);
  }

  void reset() override {
    std::memset(h_, 0, sizeof h_);
    std::memset(c_, 0, sizeof c_);
    std::memset(context_, 0, sizeof context_);
  }
  std::string name() const override { return "Silero VAD v6"; }

 private:
  std::vector<float> stft_, w_ih_, w_hh_, b_ih_, b_hh_, w_out_, b_out_;
  Conv conv_[4];
  float h_[kHidden], c_[kHidden], context_[kContext];
};

}  // namespace

Result<std::unique_ptr<VoiceActivityDetector>> load_silero_vad(const std::string& path) {
  NM_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> file, MappedFile::open(path));
  Result<SafeTensorsFile> st = SafeTensorsFile::parse(file->data(), file->size(), "'" + path + "'");
  if (!st.ok()) {
    // The silero-vad package ships .onnx files beside the safetensors one: name the right
    // file instead of a safetensors header length read from protobuf bytes. An ONNX model
    // starts with field 1 (ir_version, a varint): the byte 0x08.
    const bool onnx = path.size() >= 5 && path.compare(path.size() - 5, 5, ".onnx") == 0;
    if (onnx || (file->size() > 0 && file->data()[0] == 0x08)) {
      return error(ErrorCode::invalid_argument,
                   "'" + path + "' looks like an ONNX model; Silero VAD is read from its safetensors export "
                   "(silero_vad_16k.safetensors, shipped beside the .onnx files in the silero-vad package)");
    }
    return st.status();
  }
  auto vad = std::make_unique<SileroVad>();
  NM_RETURN_IF_ERROR(vad->load(*st));
  return std::unique_ptr<VoiceActivityDetector>(std::move(vad));
}

}  // namespace nm
