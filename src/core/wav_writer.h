// WavWriter: mono 16-bit PCM WAV files written as audio arrives (speech is written sentence
// by sentence): the header's sizes are patched when the file is closed, so a reader sees a
// valid file after each close, and a file cut short (a crash) still plays up to its end in
// most players. Samples are floats in [-1, 1], clipped and rounded to 16 bits.
// Not thread-safe: one writer per file.
#pragma once

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>

#include "core/status.h"

namespace nm {

class WavWriter {
 public:
  WavWriter() = default;
  ~WavWriter();
  WavWriter(const WavWriter&) = delete;
  WavWriter& operator=(const WavWriter&) = delete;

  // "-" writes to stdout (the sizes then stay those of an endless stream).
  Status open(const std::string& path, int sample_rate);
  Status write(std::span<const float> samples);
  Status close();
  int64_t samples_written() const { return n_; }

 private:
  Status write_header(uint32_t data_bytes);
  std::FILE* f_ = nullptr;
  bool is_stdout_ = false;
  int rate_ = 0;
  int64_t n_ = 0;
  std::string path_;
};

}  // namespace nm
