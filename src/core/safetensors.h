// SafeTensors files (Hugging Face's format): an 8-byte little-endian header length, a
// JSON header naming each tensor's dtype, shape and byte range, then the raw data. Read
// from memory (a mapped file); every range is checked against the data before use.
// Tensors are returned as views into the caller's bytes, possibly unaligned: copy them
// (to_f32) before computing. Thread-safety: immutable after parsing.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace nm {

struct SafeTensor {
  std::string dtype;           // "F32", "F16", "BF16", "I64", ...
  std::vector<int64_t> shape;  // outermost first
  const uint8_t* data = nullptr;
  size_t bytes = 0;

  int64_t n_elements() const;
  // The values as float (F32, F16 and BF16; else an error).
  Result<std::vector<float>> to_f32() const;
};

class SafeTensorsFile {
 public:
  static Result<SafeTensorsFile> parse(const uint8_t* data, size_t size, const std::string& what = "safetensors");
  const std::map<std::string, SafeTensor>& tensors() const { return tensors_; }
  // The tensor `name` with exactly `shape`, as floats.
  Result<std::vector<float>> get_f32(const std::string& name, const std::vector<int64_t>& shape) const;

 private:
  std::string what_;
  std::map<std::string, SafeTensor> tensors_;
};

}  // namespace nm
