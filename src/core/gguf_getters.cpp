// Typed metadata getters of GgufFile; see gguf_reader.h.
#include <limits>

#include "core/gguf_reader.h"

namespace nm {

namespace {

Status missing(std::string_view key) {
  return error(ErrorCode::invalid_file, "missing metadata key '" + std::string(key) + "'");
}

Status wrong_type(std::string_view key, std::string_view expected, const GgufValue& v) {
  std::string actual(gguf_type_name(v.type()));
  if (const auto* a = v.get_if<GgufArray>()) actual += " of " + std::string(gguf_type_name(a->elem));
  return error(ErrorCode::invalid_file, "metadata key '" + std::string(key) + "' has type " + actual +
                                            ", expected " + std::string(expected));
}

template <class T>
Result<T> get_typed(const GgufFile& f, std::string_view key) {
  const GgufValue* v = f.find(key);
  if (v == nullptr) return missing(key);
  const T* x = v->get_if<T>();
  if (x == nullptr) return wrong_type(key, gguf_type_name(GgufValue(T{}).type()), *v);
  return *x;
}

template <class T>
Result<T> get_typed_or(const GgufFile& f, std::string_view key, T def) {
  if (!f.has(key)) return def;
  return get_typed<T>(f, key);
}

template <class T>
Result<std::vector<T>> get_array_of(const GgufFile& f, std::string_view key) {
  const GgufValue* v = f.find(key);
  if (v == nullptr) return missing(key);
  const GgufType want = GgufValue(T{}).type();
  const auto* a = v->get_if<GgufArray>();
  if (a == nullptr || a->elem != want) {
    return wrong_type(key, "array of " + std::string(gguf_type_name(want)), *v);
  }
  std::vector<T> out;
  out.reserve(a->items.size());
  for (const auto& item : a->items) out.push_back(*item.get_if<T>());
  return out;
}

}  // namespace

Result<uint8_t> GgufFile::get_u8(std::string_view key) const { return get_typed<uint8_t>(*this, key); }
Result<int8_t> GgufFile::get_i8(std::string_view key) const { return get_typed<int8_t>(*this, key); }
Result<uint16_t> GgufFile::get_u16(std::string_view key) const { return get_typed<uint16_t>(*this, key); }
Result<int16_t> GgufFile::get_i16(std::string_view key) const { return get_typed<int16_t>(*this, key); }
Result<uint32_t> GgufFile::get_u32(std::string_view key) const { return get_typed<uint32_t>(*this, key); }
Result<int32_t> GgufFile::get_i32(std::string_view key) const { return get_typed<int32_t>(*this, key); }
Result<uint64_t> GgufFile::get_u64(std::string_view key) const { return get_typed<uint64_t>(*this, key); }
Result<int64_t> GgufFile::get_i64(std::string_view key) const { return get_typed<int64_t>(*this, key); }
Result<float> GgufFile::get_f32(std::string_view key) const { return get_typed<float>(*this, key); }
Result<double> GgufFile::get_f64(std::string_view key) const { return get_typed<double>(*this, key); }
Result<bool> GgufFile::get_bool(std::string_view key) const { return get_typed<bool>(*this, key); }
Result<std::string> GgufFile::get_string(std::string_view key) const { return get_typed<std::string>(*this, key); }

Result<const GgufArray*> GgufFile::get_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return missing(key);
  const auto* a = v->get_if<GgufArray>();
  if (a == nullptr) return wrong_type(key, "array", *v);
  return a;
}

Result<int64_t> GgufFile::get_int(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return missing(key);
  return std::visit(
      [&](const auto& x) -> Result<int64_t> {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
          if constexpr (std::is_same_v<T, uint64_t>) {
            if (x > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
              return error(ErrorCode::invalid_file, "metadata key '" + std::string(key) + "' value " +
                                                        std::to_string(x) + " does not fit in int64");
            }
          }
          return static_cast<int64_t>(x);
        } else {
          return wrong_type(key, "an integer", *v);
        }
      },
      v->v);
}

Result<std::vector<std::string>> GgufFile::get_array_strings(std::string_view key) const {
  return get_array_of<std::string>(*this, key);
}
Result<std::vector<float>> GgufFile::get_array_f32(std::string_view key) const { return get_array_of<float>(*this, key); }
Result<std::vector<int32_t>> GgufFile::get_array_i32(std::string_view key) const {
  return get_array_of<int32_t>(*this, key);
}

Result<uint32_t> GgufFile::get_u32_or(std::string_view key, uint32_t def) const { return get_typed_or(*this, key, def); }
Result<int32_t> GgufFile::get_i32_or(std::string_view key, int32_t def) const { return get_typed_or(*this, key, def); }
Result<uint64_t> GgufFile::get_u64_or(std::string_view key, uint64_t def) const { return get_typed_or(*this, key, def); }
Result<float> GgufFile::get_f32_or(std::string_view key, float def) const { return get_typed_or(*this, key, def); }
Result<bool> GgufFile::get_bool_or(std::string_view key, bool def) const { return get_typed_or(*this, key, def); }
Result<std::string> GgufFile::get_string_or(std::string_view key, std::string def) const {
  return get_typed_or(*this, key, std::move(def));
}
Result<int64_t> GgufFile::get_int_or(std::string_view key, int64_t def) const {
  if (!has(key)) return def;
  return get_int(key);
}

}  // namespace nm
