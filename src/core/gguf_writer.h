// GgufWriter: builds a GGUF v3 file (metadata of every type, tensors from raw bytes) in
// memory or on disk. Used by tests and tools to make models. Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/gguf_value.h"
#include "core/status.h"
#include "core/tensor.h"

namespace nm {

class GgufWriter {
 public:
  // Power of two; != 32 also writes general.alignment (u32). Call before to_bytes().
  Status set_alignment(uint32_t alignment);

  // Adds (or replaces) a key; GgufValue converts from every scalar type, std::string,
  // const char* and GgufArray; see gguf_array() for arrays of plain items.
  void add(const std::string& key, GgufValue value);
  void add_u32(const std::string& key, uint32_t v) { add(key, GgufValue(v)); }
  void add_i32(const std::string& key, int32_t v) { add(key, GgufValue(v)); }
  void add_f32(const std::string& key, float v) { add(key, GgufValue(v)); }
  void add_bool(const std::string& key, bool v) { add(key, GgufValue(v)); }
  void add_string(const std::string& key, std::string v) { add(key, GgufValue(std::move(v))); }
  void add_array_strings(const std::string& key, const std::vector<std::string>& v) { add(key, gguf_array(v)); }
  void add_array_f32(const std::string& key, const std::vector<float>& v) { add(key, gguf_array(v)); }
  void add_array_i32(const std::string& key, const std::vector<int32_t>& v) { add(key, gguf_array(v)); }

  // `ne` innermost first (1..4 dims); n_bytes must equal the size the dtype and shape
  // imply; errors (invalid_argument) for duplicate names, bad shapes, size mismatch.
  Status add_tensor(const std::string& name, DType type, const std::vector<int64_t>& ne, const void* data,
                    size_t n_bytes);
  Status add_tensor(const std::string& name, const Tensor& t);  // contiguous tensors only

  std::vector<uint8_t> to_bytes() const;
  Status write(const std::string& path) const;

 private:
  struct PendingTensor {
    std::string name;
    DType type;
    std::vector<int64_t> ne;
    std::vector<uint8_t> bytes;
  };
  uint32_t alignment_ = 32;
  std::vector<std::pair<std::string, GgufValue>> kvs_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace nm
