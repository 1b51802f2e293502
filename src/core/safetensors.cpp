#include "core/safetensors.h"

#include <cstring>

#include <nlohmann/json.hpp>

#include "core/fp16.h"

namespace nm {
namespace {

size_t dtype_size(const std::string& d) {
  if (d == "F64" || d == "I64" || d == "U64") return 8;
  if (d == "F32" || d == "I32" || d == "U32") return 4;
  if (d == "F16" || d == "BF16" || d == "I16" || d == "U16") return 2;
  if (d == "I8" || d == "U8" || d == "BOOL") return 1;
  return 0;
}

}  // namespace

int64_t SafeTensor::n_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Result<std::vector<float>> SafeTensor::to_f32() const {
  const int64_t n = n_elements();
  std::vector<float> out((size_t)n);
  if (dtype == "F32") {
    std::memcpy(out.data(), data, (size_t)n * 4);
  } else if (dtype == "F16" || dtype == "BF16") {
    for (int64_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, data + i * 2, 2);
      out[(size_t)i] = dtype == "F16" ? fp16_to_fp32(h) : bf16_to_fp32(h);
    }
  } else {
    return error(ErrorCode::unsupported, "tensor of type " + dtype + " where floats are needed");
  }
  return out;
}

Result<SafeTensorsFile> SafeTensorsFile::parse(const uint8_t* data, size_t size, const std::string& what) {
  SafeTensorsFile f;
  f.what_ = what;
  uint64_t header = 0;
  if (size < 8) return error(ErrorCode::invalid_file, what + ": too short for a safetensors file");
  std::memcpy(&header, data, 8);
  if (header < 2 || header > size - 8 || header > (100u << 20)) {
    return error(ErrorCode::invalid_file, what + ": not a safetensors file (header length " + std::to_string(header) + ")");
  }
  const auto j = nlohmann::json::parse(data + 8, data + 8 + header, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return error(ErrorCode::invalid_file, what + ": the safetensors header is not a JSON object");
  const uint8_t* body = data + 8 + header;
  const size_t body_size = size - 8 - (size_t)header;
  for (const auto& [name, v] : j.items()) {
    if (name == "__metadata__") continue;
    const std::string bad = what + ": tensor '" + name + "': ";
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets") ||
        !v["dtype"].is_string() || !v["shape"].is_array() || !v["data_offsets"].is_array() ||
        v["data_offsets"].size() != 2) {
      return error(ErrorCode::invalid_file, bad + "needs dtype, shape and data_offsets");
    }
    SafeTensor t;
    t.dtype = v["dtype"].get<std::string>();
    const size_t esize = dtype_size(t.dtype);
    if (!esize) return error(ErrorCode::invalid_file, bad + "unknown dtype " + t.dtype);
    int64_t n = 1;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_unsigned() || d.get<uint64_t>() > (1ull << 32)) return error(ErrorCode::invalid_file, bad + "bad shape");
      t.shape.push_back((int64_t)d.get<uint64_t>());
      n *= t.shape.back();
      if (n > (int64_t)1 << 40) return error(ErrorCode::invalid_file, bad + "implausibly large");
    }
    const auto& o = v["data_offsets"];
    if (!o[0].is_number_unsigned() || !o[1].is_number_unsigned()) return error(ErrorCode::invalid_file, bad + "bad offsets");
    const uint64_t b = o[0].get<uint64_t>(), e = o[1].get<uint64_t>();
    if (b > e || e > body_size || e - b != (uint64_t)n * esize) {
      return error(ErrorCode::invalid_file, bad + "its byte range does not fit its shape or the file (truncated?)");
    }
    t.data = body + b;
    t.bytes = (size_t)(e - b);
    f.tensors_.emplace(name, std::move(t));
  }
  return f;
}

Result<std::vector<float>> SafeTensorsFile::get_f32(const std::string& name, const std::vector<int64_t>& shape) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) return error(ErrorCode::invalid_file, what_ + ": tensor '" + name + "' is missing");
  if (it->second.shape != shape) {
    std::string want, got;
    for (int64_t d : shape) want += (want.empty() ? "" : ", ") + std::to_string(d);
    for (int64_t d : it->second.shape) got += (got.empty() ? "" : ", ") + std::to_string(d);
    return error(ErrorCode::invalid_file, what_ + ": tensor '" + name + "' has shape [" + got + "], expected [" + want + "]");
  }
  return it->second.to_f32();
}

}  // namespace nm
