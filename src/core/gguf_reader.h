// GgufFile: a validated, read-only view of a GGUF v2/v3 file (little-endian only).
// Metadata is parsed into GgufValues; tensor data stays in the mapping and is exposed
// as nm::Tensor views whose `owner` keeps the mapping alive. Everything in the header is
// checked before use; hostile files give ErrorCode::invalid_file / unsupported.
// Immutable after open: safe to read from any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/gguf_value.h"
#include "core/status.h"
#include "core/tensor.h"

namespace nm {

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr uint32_t kGgufDefaultAlignment = 32;
// The smallest general.alignment read or written: the format asks for a multiple of 8, which
// keeps every tensor's elements aligned for its kernels.
constexpr uint32_t kMinAlignment = 8;

// What is wrong with a general.alignment value, e.g. "is not a power of two" ("" when nothing):
// the reader and the writer both check it.
std::string gguf_alignment_problem(uint32_t alignment);

struct GgufTensorInfo {
  std::string name;
  DType type = DType::F32;
  int n_dims = 0;                          // 1..4 as stored
  std::array<int64_t, kMaxDims> ne{1, 1, 1, 1};  // innermost first, unused dims 1
  uint64_t offset = 0;                     // from the start of the data section
  size_t n_bytes = 0;
  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
};

struct GgufKv {
  std::string key;
  GgufValue value;
};

class GgufFile {
 public:
  static Result<GgufFile> open(const std::string& path);
  // Parses `size` bytes at `data`; `owner` (may be null) keeps them alive for tensor views.
  static Result<GgufFile> from_memory(const void* data, size_t size, std::shared_ptr<const void> owner);

  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  size_t data_offset() const { return data_offset_; }  // file offset of the data section
  size_t file_size() const { return size_; }
  const uint8_t* data() const { return data_; }  // the whole file's bytes
  // Opened from a path: data() is a read-only private mapping of this file, whose pages
  // may be dropped (madvise) and re-read. Empty for from_memory().
  const std::string& path() const { return path_; }

  // ---- metadata (in file order)
  const std::vector<GgufKv>& metadata() const { return kvs_; }
  const GgufValue* find(std::string_view key) const;  // nullptr if absent
  bool has(std::string_view key) const { return find(key) != nullptr; }

  // Strict typed getters: error (invalid_file) names the key and expected/actual type;
  // a missing key is ErrorCode::invalid_file "missing key 'x'".
  Result<uint8_t> get_u8(std::string_view key) const;
  Result<int8_t> get_i8(std::string_view key) const;
  Result<uint16_t> get_u16(std::string_view key) const;
  Result<int16_t> get_i16(std::string_view key) const;
  Result<uint32_t> get_u32(std::string_view key) const;
  Result<int32_t> get_i32(std::string_view key) const;
  Result<uint64_t> get_u64(std::string_view key) const;
  Result<int64_t> get_i64(std::string_view key) const;
  Result<float> get_f32(std::string_view key) const;
  Result<double> get_f64(std::string_view key) const;
  Result<bool> get_bool(std::string_view key) const;
  Result<std::string> get_string(std::string_view key) const;
  Result<const GgufArray*> get_array(std::string_view key) const;
  // Any integer type whose value fits in int64 (u64 > INT64_MAX is an error).
  Result<int64_t> get_int(std::string_view key) const;
  // Arrays whose items are exactly of that type.
  Result<std::vector<std::string>> get_array_strings(std::string_view key) const;
  Result<std::vector<float>> get_array_f32(std::string_view key) const;
  Result<std::vector<int32_t>> get_array_i32(std::string_view key) const;

  // Missing key -> default; present with the wrong type -> error.
  Result<uint32_t> get_u32_or(std::string_view key, uint32_t def) const;
  Result<int32_t> get_i32_or(std::string_view key, int32_t def) const;
  Result<uint64_t> get_u64_or(std::string_view key, uint64_t def) const;
  Result<float> get_f32_or(std::string_view key, float def) const;
  Result<bool> get_bool_or(std::string_view key, bool def) const;
  Result<std::string> get_string_or(std::string_view key, std::string def) const;
  Result<int64_t> get_int_or(std::string_view key, int64_t def) const;

  // ---- tensors (in file order)
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(std::string_view name) const;  // nullptr if absent
  // View into the file; error (invalid_argument) names a missing tensor.
  Result<Tensor> tensor(std::string_view name) const;
  Tensor tensor(const GgufTensorInfo& info) const;  // info must come from tensors()
  const uint8_t* tensor_data(const GgufTensorInfo& info) const { return data_ + data_offset_ + info.offset; }

 private:
  friend class GgufParser;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
  std::shared_ptr<const void> owner_;
  uint32_t version_ = 0;
  uint32_t alignment_ = kGgufDefaultAlignment;
  size_t data_offset_ = 0;
  std::vector<GgufKv> kvs_;
  std::unordered_map<std::string, size_t> kv_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;
};

}  // namespace nm
