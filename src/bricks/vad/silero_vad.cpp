// Silero VAD v6 (16 kHz), from silero_vad_16k.safetensors as the silero-vad package ships it
// (its model: silero_vad/tinygrad_model.py). Per 512-sample chunk, with the previous 64
// samples in front and 64 reflected samples behind: a learned STFT (a stride-128 convolution
// with 258 kernels of 256: real and imaginary parts of 129 bins) -> magnitudes -> four
// 1-D convolutions with ReLU (strides 1, 2, 2, 1: 4 frames down to 1) -> an LSTM cell
// (128 units; its state carries from chunk to chunk) -> ReLU -> a 1x1 convolution ->
// sigmoid. About 0.6 M multiply-adds per 32 ms, on the caller's thread: each step is one
// f32 matmul (kernels/matmul.h, the best ISA here) over frames as rows, the convolutions
// unfolded to tap-major columns and their weights laid out to match once at load, the LSTM's
// two matrices side by side. A microphone is listened to all day: scalar loops cost ~2% of
// a core here (0.66 ms per 32 ms chunk, AVX2 EPYC), above the 1% an idle assistant may use.
#include <cassert>
#include <cmath>
#include <cstring>

#include "bricks/vad/voice_activity.h"
#include "core/mapped_file.h"
#include "core/safetensors.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"

namespace nm {
namespace {

constexpr int kContext = 64, kPad = 64, kFft = 256, kHop = 128, kBins = kFft / 2 + 1, kHidden = 128;
constexpr int kInput = kContext + VoiceActivityDetector::kChunk + kPad;  // 640
constexpr int kFrames = (kInput - kFft) / kHop + 1;                      // 4

// A k = 3, pad 1 convolution over frames as rows: weights [c_out][3 * c_in], tap-major.
struct Conv {
  std::vector<float> w, b;
  int c_in, c_out, stride;
};

float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

class SileroVad final : public VoiceActivityDetector {
 public:
  SileroVad() : isa_(best_isa()), pool_(1) {}

  Status load(const SafeTensorsFile& f) {
    NM_ASSIGN_OR_RETURN(stft_, f.get_f32("stft_conv.weight", {2 * kBins, 1, kFft}));
    const struct { const char* name; int c_in, c_out, stride; } convs[4] = {
        {"conv1", kBins, 128, 1}, {"conv2", 128, 64, 2}, {"conv3", 64, 64, 2}, {"conv4", 64, kHidden, 1}};
    size_t scratch = matmul_scratch_bytes(DType::F32, 2 * kBins, kFft, kFrames);
    for (int i = 0; i < 4; ++i) {
      Conv& c = conv_[i];
      c.c_in = convs[i].c_in;
      c.c_out = convs[i].c_out;
      c.stride = convs[i].stride;
      NM_ASSIGN_OR_RETURN(std::vector<float> w, f.get_f32(std::string(convs[i].name) + ".weight", {c.c_out, c.c_in, 3}));
      NM_ASSIGN_OR_RETURN(c.b, f.get_f32(std::string(convs[i].name) + ".bias", {c.c_out}));
      c.w.resize(w.size());  // [o][ch][j] -> [o][j][ch]
      for (int o = 0; o < c.c_out; ++o)
        for (int ch = 0; ch < c.c_in; ++ch)
          for (int j = 0; j < 3; ++j) c.w[((size_t)o * 3 + j) * c.c_in + ch] = w[((size_t)o * c.c_in + ch) * 3 + j];
      scratch = std::max(scratch, matmul_scratch_bytes(DType::F32, c.c_out, 3 * c.c_in, kFrames));
    }
    NM_ASSIGN_OR_RETURN(std::vector<float> w_ih, f.get_f32("lstm_cell.weight_ih", {4 * kHidden, kHidden}));
    NM_ASSIGN_OR_RETURN(std::vector<float> w_hh, f.get_f32("lstm_cell.weight_hh", {4 * kHidden, kHidden}));
    NM_ASSIGN_OR_RETURN(std::vector<float> b_ih, f.get_f32("lstm_cell.bias_ih", {4 * kHidden}));
    NM_ASSIGN_OR_RETURN(std::vector<float> b_hh, f.get_f32("lstm_cell.bias_hh", {4 * kHidden}));
    NM_ASSIGN_OR_RETURN(w_out_, f.get_f32("final_conv.weight", {1, kHidden, 1}));
    NM_ASSIGN_OR_RETURN(b_out_, f.get_f32("final_conv.bias", {1}));
    // Gate row r = w_ih[r] . x + w_hh[r] . h: one row of [w_ih[r], w_hh[r]] against [x, h].
    w_lstm_.resize((size_t)4 * kHidden * 2 * kHidden);
    b_lstm_.resize(4 * kHidden);
    for (int r = 0; r < 4 * kHidden; ++r) {
      std::memcpy(&w_lstm_[(size_t)r * 2 * kHidden], &w_ih[(size_t)r * kHidden], kHidden * sizeof(float));
      std::memcpy(&w_lstm_[(size_t)r * 2 * kHidden + kHidden], &w_hh[(size_t)r * kHidden], kHidden * sizeof(float));
      b_lstm_[(size_t)r] = b_ih[(size_t)r] + b_hh[(size_t)r];
    }
    scratch = std::max(scratch, matmul_scratch_bytes(DType::F32, 4 * kHidden, 2 * kHidden, 1));
    scratch_.resize(scratch / sizeof(float) + 1);
    for (const std::vector<float>* v : {&stft_, &w_lstm_, &b_lstm_, &w_out_, &b_out_, &conv_[0].w, &conv_[0].b,
                                        &conv_[1].w, &conv_[1].b, &conv_[2].w, &conv_[2].b, &conv_[3].w, &conv_[3].b}) {
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

    // STFT: frame t is x[t * kHop, + kFft) (frames overlap: copied to rows of their own).
    float frames[kFrames * kFft], spec[kFrames * 2 * kBins];
    for (int t = 0; t < kFrames; ++t) std::memcpy(frames + t * kFft, x + t * kHop, kFft * sizeof(float));
    run_matmul(stft_.data(), 2 * kBins, kFft, frames, kFft, kFrames, spec);
    float a[kFrames * kBins];
    for (int t = 0; t < kFrames; ++t) {
      const float* re = spec + t * 2 * kBins;
      for (int b = 0; b < kBins; ++b) a[t * kBins + b] = std::sqrt(re[b] * re[b] + re[kBins + b] * re[kBins + b]);
    }
    // The convolutions; ReLU after each is applied as its output is unfolded for the next.
    float cols[kFrames * 3 * kBins], out[kFrames * kHidden];
    const float* in = a;
    int len = kFrames;
    float slope = 1.0f;  // the STFT magnitudes go in as they are
    float b[kFrames * kHidden];
    for (const Conv& c : conv_) {
      const kernels::Conv1dRows s{c.c_in, len, 3, c.stride, 1, 1};
      kernels::unfold1d(in, s, slope, cols, 0, 1);
      len = (int)s.t_out();
      run_matmul(c.w.data(), c.c_out, 3 * c.c_in, cols, 3 * c.c_in, len, out);
      for (int i = 0; i < len * c.c_out; ++i) b[i] = out[i] + c.b[(size_t)(i % c.c_out)];
      in = b;
      slope = 0.0f;
    }
    // in: [1, 128] before its ReLU. LSTM cell, gates in PyTorch's order (input, forget, cell, output).
    float xh[2 * kHidden], g[4 * kHidden];
    for (int k = 0; k < kHidden; ++k) xh[k] = std::max(in[k], 0.0f);
    std::memcpy(xh + kHidden, h_, sizeof h_);
    run_matmul(w_lstm_.data(), 4 * kHidden, 2 * kHidden, xh, 2 * kHidden, 1, g);
    float y = b_out_[0];
    for (int k = 0; k < kHidden; ++k) {
      const float i = sigmoid(g[k] + b_lstm_[(size_t)k]), f = sigmoid(g[kHidden + k] + b_lstm_[(size_t)kHidden + k]),
                  cg = std::tanh(g[2 * kHidden + k] + b_lstm_[(size_t)2 * kHidden + k]),
                  o = sigmoid(g[3 * kHidden + k] + b_lstm_[(size_t)3 * kHidden + k]);
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
  // y [rows][m] = x [rows][k] (rows x_stride floats apart) . w [m][k]^T
  void run_matmul(const float* w, int m, int k, const float* x, int x_stride, int rows, float* y) {
    MatmulArgs a;
    a.w_type = DType::F32;
    a.w = w;
    a.w_row_bytes = (size_t)k * sizeof(float);
    a.m = m;
    a.k = k;
    a.x = x;
    a.x_stride = x_stride;
    a.n = rows;
    a.y = y;
    a.y_stride = m;
    const Status st = matmul(isa_, a, scratch_.data(), pool_);
    assert(st.ok());  // shapes and strides are fixed here, the ISA is best_isa()
    (void)st;
  }

  Isa isa_;
  ThreadPool pool_;  // one thread: the caller's (no workers are started)
  std::vector<float> stft_, w_lstm_, b_lstm_, w_out_, b_out_, scratch_;
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
