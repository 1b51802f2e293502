// WavWriter: RIFF/WAVE, PCM format 1, mono, 16 bits.
#include "core/wav_writer.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <vector>

namespace nm {
namespace {

void put32(uint8_t* p, uint32_t v) { for (int i = 0; i < 4; ++i) p[i] = (uint8_t)(v >> (8 * i)); }
void put16(uint8_t* p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
constexpr int64_t kMaxSamples = (0xFFFFFFFFll - 44) / 2;

}  // namespace

WavWriter::~WavWriter() { (void)close(); }

Status WavWriter::write_header(uint32_t data_bytes) {
  uint8_t h[44];
  std::memcpy(h, "RIFF", 4);
  put32(h + 4, 36 + data_bytes);
  std::memcpy(h + 8, "WAVEfmt ", 8);
  put32(h + 16, 16);
  put16(h + 20, 1);  // PCM
  put16(h + 22, 1);  // mono
  put32(h + 24, (uint32_t)rate_);
  put32(h + 28, (uint32_t)rate_ * 2);
  put16(h + 32, 2);
  put16(h + 34, 16);
  std::memcpy(h + 36, "data", 4);
  put32(h + 40, data_bytes);
  if (std::fwrite(h, 1, sizeof h, f_) != sizeof h) return error(ErrorCode::io_error, "cannot write " + path_ + ": " + std::strerror(errno));
  return Status::ok_status();
}

Status WavWriter::open(const std::string& path, int sample_rate) {
  NM_RETURN_IF_ERROR(close());
  if (sample_rate < 1000 || sample_rate > 384000) return error(ErrorCode::invalid_argument, "WAV sample rate out of range");
  path_ = path;
  rate_ = sample_rate;
  n_ = 0;
  is_stdout_ = path == "-";
  f_ = is_stdout_ ? stdout : std::fopen(path.c_str(), "wb");
  if (!f_) return error(ErrorCode::io_error, "cannot create " + path + ": " + std::strerror(errno));
  return write_header(is_stdout_ ? 0xFFFFFFFFu - 36 : 0);
}

Status WavWriter::write(std::span<const float> samples) {
  if (!f_) return error(ErrorCode::internal, "WavWriter::write before open");
  if (n_ + (int64_t)samples.size() > kMaxSamples) return error(ErrorCode::invalid_argument, "WAV file would pass 4 GiB");
  std::vector<uint8_t> buf(samples.size() * 2);
  for (size_t i = 0; i < samples.size(); ++i) {
    float x = samples[i];
    x = std::isfinite(x) ? (x > 1.0f ? 1.0f : (x < -1.0f ? -1.0f : x)) : 0.0f;
    put16(buf.data() + 2 * i, (uint16_t)(int16_t)std::lrint(x * 32767.0f));
  }
  if (!buf.empty() && std::fwrite(buf.data(), 1, buf.size(), f_) != buf.size()) {
    return error(ErrorCode::io_error, "cannot write " + path_ + ": " + std::strerror(errno));
  }
  n_ += (int64_t)samples.size();
  if (is_stdout_) std::fflush(f_);
  return Status::ok_status();
}

Status WavWriter::close() {
  if (!f_) return Status::ok_status();
  Status s = Status::ok_status();
  if (!is_stdout_) {
    if (std::fseek(f_, 0, SEEK_SET) != 0) s = error(ErrorCode::io_error, "cannot rewind " + path_);
    else s = write_header((uint32_t)(n_ * 2));
    if (std::fclose(f_) != 0 && s.ok()) s = error(ErrorCode::io_error, "cannot close " + path_ + ": " + std::strerror(errno));
  } else {
    std::fflush(f_);
  }
  f_ = nullptr;
  return s;
}

}  // namespace nm
