// Helpers of the weight-memory tests (packed copies, streaming): random quantised rows and
// the process's resident file-backed bytes.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <random>
#include <vector>

#include "core/fp16.h"
#include "core/tensor.h"

namespace nm::test {

// Resident file-backed pages of this process in bytes (/proc/self/statm "shared"): mapped
// model files and packed copies spilled to a file.
inline size_t resident_file_bytes() {
  std::ifstream f("/proc/self/statm");
  size_t pages = 0, resident = 0, file = 0;
  f >> pages >> resident >> file;
  return file * (size_t)sysconf(_SC_PAGESIZE);
}

// m rows of k weights: Q4_0 / Q8_0 blocks with random quants and scales in [0.01, 0.02),
// or F32 values from N(0, 0.05).
inline std::vector<uint8_t> random_rows(DType t, int64_t m, int64_t k, std::mt19937& rng) {
  std::vector<uint8_t> w(row_size(t, k) * (size_t)m);
  if (t == DType::F32) {
    std::normal_distribution<float> normal(0.0f, 0.05f);
    for (size_t i = 0; i < w.size() / 4; ++i) {
      const float v = normal(rng);
      std::memcpy(w.data() + 4 * i, &v, 4);
    }
    return w;
  }
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> scale(0.01f, 0.02f);
  const size_t block = row_size(t, 32);
  for (size_t b = 0; b < w.size() / block; ++b) {
    uint8_t* p = w.data() + b * block;
    const fp16_t d = fp32_to_fp16(scale(rng));
    std::memcpy(p, &d, 2);
    for (size_t i = 2; i < block; ++i) p[i] = (uint8_t)byte(rng);
  }
  return w;
}

}  // namespace nm::test
