// GGUF parser and validator; see gguf_reader.h. Every count and length read from the
// header is bounded by the bytes left in the file before anything is allocated.
#include "core/gguf_reader.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <new>

#include "core/mapped_file.h"

namespace nm {

namespace {

constexpr int kMaxArrayDepth = 8;
// Each parsed array item costs sizeof(GgufValue) (~40 bytes) whatever its size on disk;
// this caps that at well under 1 GiB. Real models hold ~1-2 million items (vocabularies).
constexpr uint64_t kMaxMetadataItems = uint64_t{1} << 24;

Status bad(std::string msg) { return error(ErrorCode::invalid_file, std::move(msg)); }

// Bounds-checked little-endian reader over the file bytes.
class Cursor {
 public:
  Cursor(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  size_t pos() const { return pos_; }
  size_t left() const { return n_ - pos_; }

  template <class T>
  Status read(T& out, const char* what) {
    if (left() < sizeof(T)) return truncated(what);
    std::memcpy(&out, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status();
  }
  Status read_string(std::string& out, const std::string& what) {
    uint64_t len = 0;
    NM_RETURN_IF_ERROR(read(len, what.c_str()));
    if (len > left()) {
      return bad("string length " + std::to_string(len) + " of " + what + " at offset " +
                 std::to_string(pos_ - 8) + " is larger than the rest of the file (" + std::to_string(left()) +
                 " bytes): file is truncated or corrupt");
    }
    out.assign(reinterpret_cast<const char*>(p_ + pos_), static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return Status();
  }
  Status truncated(const char* what) const {
    return bad(std::string("file is truncated: ") + what + " at offset " + std::to_string(pos_) +
               " runs past the end of the file (" + std::to_string(n_) + " bytes)");
  }

 private:
  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
};

// Smallest on-disk size of one value of `t` (used to bound counts before allocating).
size_t min_value_size(GgufType t) {
  switch (t) {
    case GgufType::u8: case GgufType::i8: case GgufType::boolean: return 1;
    case GgufType::u16: case GgufType::i16: return 2;
    case GgufType::u32: case GgufType::i32: case GgufType::f32: return 4;
    case GgufType::string: case GgufType::u64: case GgufType::i64: case GgufType::f64: return 8;
    case GgufType::array: return 12;
  }
  return 1;
}

}  // namespace

class GgufParser {
 public:
  GgufParser(GgufFile& f, const uint8_t* p, size_t n) : f_(f), c_(p, n) {}

  Status parse() {
    uint32_t magic = 0;
    NM_RETURN_IF_ERROR(c_.read(magic, "magic"));
    if (magic != kGgufMagic) {
      if (magic == 0x47475546u) {
        return error(ErrorCode::unsupported,
                     "big-endian GGUF file (byte-swapped magic): only little-endian GGUF is supported");
      }
      return bad("not a GGUF file: bad magic (expected 'GGUF')");
    }
    uint32_t version = 0;
    NM_RETURN_IF_ERROR(c_.read(version, "version"));
    if (version == 1) {
      return error(ErrorCode::unsupported, "GGUF version 1 is not supported (only versions 2 and 3): "
                                           "re-convert the model with a current converter");
    }
    if ((version & 0xFFFF) == 0 && version != 0) {
      return error(ErrorCode::unsupported,
                   "GGUF version looks byte-swapped (big-endian file): only little-endian GGUF is supported");
    }
    if (version != 2 && version != 3) {
      return error(ErrorCode::unsupported,
                   "unsupported GGUF version " + std::to_string(version) + " (supported: 2 and 3)");
    }
    f_.version_ = version;
    uint64_t n_tensors = 0, n_kv = 0;
    NM_RETURN_IF_ERROR(c_.read(n_tensors, "tensor count"));
    NM_RETURN_IF_ERROR(c_.read(n_kv, "metadata count"));
    // A count larger than the file could hold is reported through the entry that runs past
    // the end (which names the key or string), with the count as context; only what fits is
    // reserved. A key/value takes at least 8 (key len) + 4 (type) + 1 (value) bytes; a tensor
    // info 8 (name len) + 4 (n_dims) + 8 (one dim) + 4 (type) + 8 (offset).
    const uint64_t kv_fit = c_.left() / 13;
    f_.kvs_.reserve(static_cast<size_t>(std::min(n_kv, kv_fit)));
    for (uint64_t i = 0; i < n_kv; ++i) {
      Status st = parse_kv(i);
      if (!st.ok()) return with_count(st, n_kv, kv_fit, "metadata keys");
    }
    NM_RETURN_IF_ERROR(read_alignment());
    const uint64_t tensor_fit = c_.left() / 32;
    f_.tensors_.reserve(static_cast<size_t>(std::min(n_tensors, tensor_fit)));
    for (uint64_t i = 0; i < n_tensors; ++i) {
      Status st = parse_tensor_info(i);
      if (!st.ok()) return with_count(st, n_tensors, tensor_fit, "tensors");
    }
    return place_data();
  }

 private:
  // A failure while reading `count` entries of which at most `fit` could be in the file.
  static Status with_count(const Status& st, uint64_t count, uint64_t fit, const char* what) {
    if (count <= fit) return st;
    return Status(st.code(), st.message() + " (the header says " + std::to_string(count) + " " + what +
                                 "; the file could hold at most " + std::to_string(fit) + ")");
  }

  Status parse_kv(uint64_t i) {
    GgufKv kv;
    NM_RETURN_IF_ERROR(c_.read_string(kv.key, "the name of metadata key #" + std::to_string(i)));
    uint32_t type = 0;
    NM_RETURN_IF_ERROR(c_.read(type, "metadata value type"));
    NM_RETURN_IF_ERROR(parse_value(type, kv.key, 0, kv.value));
    if (f_.kv_index_.count(kv.key) != 0) return bad("duplicate metadata key '" + kv.key + "'");
    f_.kv_index_.emplace(kv.key, f_.kvs_.size());
    f_.kvs_.push_back(std::move(kv));
    return Status();
  }

  Status parse_value(uint32_t type, const std::string& key, int depth, GgufValue& out) {
    if (type >= kGgufTypeCount) {
      return bad("metadata key '" + key + "' has unknown value type id " + std::to_string(type));
    }
    switch (static_cast<GgufType>(type)) {
      case GgufType::u8: return read_scalar<uint8_t>(key, out);
      case GgufType::i8: return read_scalar<int8_t>(key, out);
      case GgufType::u16: return read_scalar<uint16_t>(key, out);
      case GgufType::i16: return read_scalar<int16_t>(key, out);
      case GgufType::u32: return read_scalar<uint32_t>(key, out);
      case GgufType::i32: return read_scalar<int32_t>(key, out);
      case GgufType::f32: return read_scalar<float>(key, out);
      case GgufType::u64: return read_scalar<uint64_t>(key, out);
      case GgufType::i64: return read_scalar<int64_t>(key, out);
      case GgufType::f64: return read_scalar<double>(key, out);
      case GgufType::boolean: {
        uint8_t b = 0;
        NM_RETURN_IF_ERROR(c_.read(b, "metadata value"));
        if (b > 1) return bad("metadata key '" + key + "': bool value " + std::to_string(b) + " is not 0 or 1");
        out = GgufValue(b != 0);
        return Status();
      }
      case GgufType::string: {
        std::string s;
        NM_RETURN_IF_ERROR(c_.read_string(s, "the value of metadata key '" + key + "'"));
        out = GgufValue(std::move(s));
        return Status();
      }
      case GgufType::array: return parse_array(key, depth, out);
    }
    return bad("metadata key '" + key + "' has unknown value type id " + std::to_string(type));
  }

  template <class T>
  Status read_scalar(const std::string& key, GgufValue& out) {
    T x{};
    if (c_.left() < sizeof(T)) return bad("file is truncated: value of metadata key '" + key + "' runs past the end");
    NM_RETURN_IF_ERROR(c_.read(x, "metadata value"));
    out = GgufValue(x);
    return Status();
  }

  Status parse_array(const std::string& key, int depth, GgufValue& out) {
    if (depth >= kMaxArrayDepth) {
      return bad("metadata key '" + key + "': arrays nested deeper than " + std::to_string(kMaxArrayDepth));
    }
    uint32_t elem = 0;
    uint64_t n = 0;
    NM_RETURN_IF_ERROR(c_.read(elem, "array item type"));
    NM_RETURN_IF_ERROR(c_.read(n, "array length"));
    if (elem >= kGgufTypeCount) {
      return bad("metadata key '" + key + "' is an array of unknown value type id " + std::to_string(elem));
    }
    size_t min = min_value_size(static_cast<GgufType>(elem));
    if (n > c_.left() / min) {
      return bad("metadata key '" + key + "': array length " + std::to_string(n) +
                 " is larger than the rest of the file could hold");
    }
    items_ += n;
    if (items_ > kMaxMetadataItems) {
      return bad("metadata key '" + key + "': the metadata holds more than " + std::to_string(kMaxMetadataItems) +
                 " array items in total (array length " + std::to_string(n) + ")");
    }
    GgufArray a;
    a.elem = static_cast<GgufType>(elem);
    a.items.resize(static_cast<size_t>(n));
    for (auto& item : a.items) NM_RETURN_IF_ERROR(parse_value(elem, key, depth + 1, item));
    out = GgufValue(std::move(a));
    return Status();
  }

  Status read_alignment() {
    auto it = f_.kv_index_.find("general.alignment");
    if (it == f_.kv_index_.end()) return Status();
    const GgufValue& v = f_.kvs_[it->second].value;
    const uint32_t* a = v.get_if<uint32_t>();
    if (a == nullptr) {
      return bad(std::string("general.alignment must be u32, got ") + std::string(gguf_type_name(v.type())));
    }
    const std::string problem = gguf_alignment_problem(*a);
    if (!problem.empty()) return bad("general.alignment " + std::to_string(*a) + " " + problem);
    f_.alignment_ = *a;
    return Status();
  }

  Status parse_tensor_info(uint64_t i) {
    GgufTensorInfo t;
    NM_RETURN_IF_ERROR(c_.read_string(t.name, "the name of tensor #" + std::to_string(i)));
    const std::string who = "tensor '" + t.name + "'";
    uint32_t n_dims = 0;
    NM_RETURN_IF_ERROR(c_.read(n_dims, "tensor dimension count"));
    if (n_dims == 0 || n_dims > static_cast<uint32_t>(kMaxDims)) {
      return bad(who + " has " + std::to_string(n_dims) + " dimensions (supported: 1 to " +
                 std::to_string(kMaxDims) + ")");
    }
    t.n_dims = static_cast<int>(n_dims);
    int64_t count = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      int64_t ne = 0;
      NM_RETURN_IF_ERROR(c_.read(ne, "tensor dimension"));
      if (ne <= 0) return bad(who + " has dimension " + std::to_string(d) + " = " + std::to_string(ne) + " (must be > 0)");
      if (count > std::numeric_limits<int64_t>::max() / ne) {
        return bad(who + ": element count overflows (shape too large)");
      }
      count *= ne;
      t.ne[d] = ne;
    }
    uint32_t type = 0;
    NM_RETURN_IF_ERROR(c_.read(type, "tensor type"));
    const TypeTraits* tr = dtype_is_known(type) ? type_traits(type) : nullptr;
    if (tr == nullptr) {
      return error(ErrorCode::unsupported,
                   who + " has unknown or unsupported type id " + std::to_string(type));
    }
    t.type = static_cast<DType>(type);
    if (t.ne[0] % tr->block_size != 0) {
      return bad(who + " of type " + tr->name + ": ne[0] = " + std::to_string(t.ne[0]) +
                 " is not a multiple of the block size " + std::to_string(tr->block_size));
    }
    uint64_t blocks = static_cast<uint64_t>(count) / static_cast<uint64_t>(tr->block_size);
    if (blocks > std::numeric_limits<uint64_t>::max() / tr->type_size) {
      return bad(who + ": byte size overflows (shape too large)");
    }
    uint64_t bytes = blocks * tr->type_size;
    if (bytes > f_.size_) return bad(who + " needs " + std::to_string(bytes) + " bytes, more than the whole file");
    t.n_bytes = static_cast<size_t>(bytes);
    NM_RETURN_IF_ERROR(c_.read(t.offset, "tensor offset"));
    if (t.offset % f_.alignment_ != 0) {
      return bad(who + " offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
                 std::to_string(f_.alignment_));
    }
    if (f_.tensor_index_.count(t.name) != 0) return bad("duplicate tensor name '" + t.name + "'");
    f_.tensor_index_.emplace(t.name, f_.tensors_.size());
    f_.tensors_.push_back(std::move(t));
    return Status();
  }

  Status place_data() {
    size_t a = f_.alignment_;
    size_t pos = c_.pos();
    size_t start = pos + (a - pos % a) % a;
    f_.data_offset_ = start;
    if (f_.tensors_.empty()) return Status();
    if (start > f_.size_) return bad("file is truncated: data section starts past the end of the file");
    size_t avail = f_.size_ - start;
    std::vector<const GgufTensorInfo*> order;
    order.reserve(f_.tensors_.size());
    for (const auto& t : f_.tensors_) {
      if (t.offset > avail || t.n_bytes > avail - t.offset) {
        return bad("tensor '" + t.name + "' data (offset " + std::to_string(t.offset) + ", " +
                   std::to_string(t.n_bytes) + " bytes) ends past the end of the file: file is truncated");
      }
      order.push_back(&t);
    }
    std::sort(order.begin(), order.end(), [](auto* x, auto* y) { return x->offset < y->offset; });
    for (size_t i = 1; i < order.size(); ++i) {
      if (order[i - 1]->offset + order[i - 1]->n_bytes > order[i]->offset) {
        return bad("tensors '" + order[i - 1]->name + "' and '" + order[i]->name + "' overlap in the file");
      }
    }
    return Status();
  }

  GgufFile& f_;
  Cursor c_;
  uint64_t items_ = 0;
};

std::string gguf_alignment_problem(uint32_t alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) return "is not a power of two";
  // The format asks for a multiple of 8; a smaller one would place F32 and F16 tensors at
  // addresses their kernels cannot load from (the fuzzer found alignment 1).
  if (alignment < kMinAlignment) return "is below " + std::to_string(kMinAlignment) + " (GGUF asks for a multiple of 8)";
  return "";
}

Result<GgufFile> GgufFile::from_memory(const void* data, size_t size, std::shared_ptr<const void> owner) {
  GgufFile f;
  f.data_ = static_cast<const uint8_t*>(data);
  f.size_ = size;
  f.owner_ = std::move(owner);
  if (data == nullptr || size == 0) return bad("empty GGUF buffer");
  if (reinterpret_cast<uintptr_t>(data) % kMinAlignment != 0) {
    return error(ErrorCode::invalid_argument, "GGUF buffer is not " + std::to_string(kMinAlignment) +
                                                  "-byte aligned: tensor data would be misaligned");
  }
  GgufParser p(f, f.data_, size);
  try {
    NM_RETURN_IF_ERROR(p.parse());
  } catch (const std::bad_alloc&) {
    return error(ErrorCode::out_of_memory, "out of memory while reading the GGUF metadata");
  }
  return f;
}

Result<GgufFile> GgufFile::open(const std::string& path) {
  NM_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> m, MappedFile::open(path));
  const uint8_t* p = m->data();
  size_t n = m->size();
  auto r = from_memory(p, n, std::shared_ptr<const void>(std::move(m)));
  if (!r.ok()) return Status(r.status().code(), "'" + path + "': " + r.status().message());
  r.value().path_ = path;
  return r;
}

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = kv_index_.find(std::string(key));
  return it == kv_index_.end() ? nullptr : &kvs_[it->second].value;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(std::string(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

Tensor GgufFile::tensor(const GgufTensorInfo& info) const {
  Tensor t = Tensor::make(info.type, info.ne, const_cast<uint8_t*>(tensor_data(info)));
  t.owner = owner_;
  return t;
}

Result<Tensor> GgufFile::tensor(std::string_view name) const {
  const GgufTensorInfo* info = find_tensor(name);
  if (info == nullptr) return error(ErrorCode::invalid_argument, "tensor '" + std::string(name) + "' not found");
  return tensor(*info);
}

}  // namespace nm
