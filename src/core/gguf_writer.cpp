// GGUF v3 writer; see gguf_writer.h.
#include "core/gguf_writer.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/gguf_reader.h"

namespace nm {

namespace {

class Out {
 public:
  explicit Out(std::vector<uint8_t>& b) : b_(b) {}
  template <class T>
  void put(T x) {
    size_t n = b_.size();
    b_.resize(n + sizeof(T));
    std::memcpy(b_.data() + n, &x, sizeof(T));
  }
  void put_string(const std::string& s) {
    put<uint64_t>(s.size());
    b_.insert(b_.end(), s.begin(), s.end());
  }
  void pad(size_t alignment) {
    while (b_.size() % alignment != 0) b_.push_back(0);
  }
  void put_value(const GgufValue& v) {
    std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::string>) {
            put_string(x);
          } else if constexpr (std::is_same_v<T, GgufArray>) {
            put<uint32_t>(static_cast<uint32_t>(x.elem));
            put<uint64_t>(x.items.size());
            for (const auto& item : x.items) put_value(item);
          } else if constexpr (std::is_same_v<T, bool>) {
            put<uint8_t>(x ? 1 : 0);
          } else {
            put<T>(x);
          }
        },
        v.v);
  }

 private:
  std::vector<uint8_t>& b_;
};

}  // namespace

Status GgufWriter::set_alignment(uint32_t alignment) {
  const std::string problem = gguf_alignment_problem(alignment);
  if (!problem.empty()) return error(ErrorCode::invalid_argument, "alignment " + std::to_string(alignment) + " " + problem);
  alignment_ = alignment;
  if (alignment != kGgufDefaultAlignment) add("general.alignment", GgufValue(alignment));
  return Status();
}

void GgufWriter::add(const std::string& key, GgufValue value) {
  for (auto& kv : kvs_) {
    if (kv.first == key) {
      kv.second = std::move(value);
      return;
    }
  }
  kvs_.emplace_back(key, std::move(value));
}

Status GgufWriter::add_tensor(const std::string& name, DType type, const std::vector<int64_t>& ne,
                              const void* data, size_t n_bytes) {
  for (const auto& t : tensors_) {
    if (t.name == name) return error(ErrorCode::invalid_argument, "duplicate tensor name '" + name + "'");
  }
  if (ne.empty() || ne.size() > static_cast<size_t>(kMaxDims)) {
    return error(ErrorCode::invalid_argument, "tensor '" + name + "' must have 1 to 4 dimensions");
  }
  const TypeTraits* tr = type_traits(type);
  if (tr == nullptr) return error(ErrorCode::invalid_argument, "tensor '" + name + "' has an unknown dtype");
  int64_t count = 1;
  for (int64_t d : ne) {
    if (d <= 0) return error(ErrorCode::invalid_argument, "tensor '" + name + "' has a dimension <= 0");
    count *= d;
  }
  if (ne[0] % tr->block_size != 0) {
    return error(ErrorCode::invalid_argument, "tensor '" + name + "': ne[0] is not a multiple of the block size");
  }
  size_t want = static_cast<size_t>(count / tr->block_size) * tr->type_size;
  if (want != n_bytes) {
    return error(ErrorCode::invalid_argument, "tensor '" + name + "': got " + std::to_string(n_bytes) +
                                                  " bytes, shape and type need " + std::to_string(want));
  }
  PendingTensor t{name, type, ne, {}};
  const auto* p = static_cast<const uint8_t*>(data);
  t.bytes.assign(p, p + n_bytes);
  tensors_.push_back(std::move(t));
  return Status();
}

Status GgufWriter::add_tensor(const std::string& name, const Tensor& t) {
  if (!t.is_contiguous()) return error(ErrorCode::invalid_argument, "tensor '" + name + "' is not contiguous");
  int n_dims = kMaxDims;
  while (n_dims > 1 && t.ne[n_dims - 1] == 1) --n_dims;
  std::vector<int64_t> ne(t.ne.begin(), t.ne.begin() + n_dims);
  return add_tensor(name, t.type, ne, t.data, t.n_bytes());
}

std::vector<uint8_t> GgufWriter::to_bytes() const {
  std::vector<uint8_t> b;
  Out o(b);
  o.put<uint32_t>(kGgufMagic);
  o.put<uint32_t>(3);
  o.put<uint64_t>(tensors_.size());
  o.put<uint64_t>(kvs_.size());
  for (const auto& [key, value] : kvs_) {
    o.put_string(key);
    o.put<uint32_t>(static_cast<uint32_t>(value.type()));
    o.put_value(value);
  }
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    o.put_string(t.name);
    o.put<uint32_t>(static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) o.put<int64_t>(d);
    o.put<uint32_t>(static_cast<uint32_t>(t.type));
    o.put<uint64_t>(offset);
    offset += t.bytes.size();
    offset += (alignment_ - offset % alignment_) % alignment_;
  }
  o.pad(alignment_);
  for (const auto& t : tensors_) {
    b.insert(b.end(), t.bytes.begin(), t.bytes.end());
    o.pad(alignment_);
  }
  return b;
}

Status GgufWriter::write(const std::string& path) const {
  std::vector<uint8_t> b = to_bytes();
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return error(ErrorCode::io_error, "cannot create '" + path + "': " + std::strerror(errno));
  size_t n = std::fwrite(b.data(), 1, b.size(), f);
  int rc = std::fclose(f);
  if (n != b.size() || rc != 0) return error(ErrorCode::io_error, "cannot write '" + path + "'");
  return Status();
}

}  // namespace nm
