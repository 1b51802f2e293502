// The energy detector, for when no VAD model is given: a chunk's RMS level in dBFS against
// a noise floor that follows the quietest recent chunks (down at once, up by 3 dB/s), so
// steady background noise is not speech. Speech is a level at least 12 dB over the floor
// and over -55 dBFS; the probability is a logistic of the margin (3 dB scale), so the
// segmenter's 0.5 / 0.35 thresholds mean ~12 / ~10 dB over the floor. It cannot tell
// speech from other loud sounds: Silero VAD can.
#include <algorithm>
#include <cmath>

#include "bricks/vad/voice_activity.h"

namespace nm {
namespace {

class EnergyVad final : public VoiceActivityDetector {
 public:
  float speech_probability(const float* chunk) override {
    double e = 0.0;
    for (int i = 0; i < kChunk; ++i) e += (double)chunk[i] * chunk[i];
    const double db = 10.0 * std::log10(e / kChunk + 1e-12);
    floor_db_ = db < floor_db_ ? std::max(db, -100.0) : floor_db_ + kRisePerChunk;
    const double onset = std::max(floor_db_ + 12.0, -55.0);
    return (float)(1.0 / (1.0 + std::exp(-(db - onset) / 3.0)));
  }
  void reset() override { floor_db_ = -60.0; }
  std::string name() const override { return "energy"; }

 private:
  static constexpr double kRisePerChunk = 3.0 * kChunk / kSampleRate;  // 3 dB/s
  double floor_db_ = -60.0;
};

}  // namespace

std::unique_ptr<VoiceActivityDetector> make_energy_vad() { return std::make_unique<EnergyVad>(); }

}  // namespace nm
