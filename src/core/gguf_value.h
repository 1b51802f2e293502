// GGUF metadata values: the 13 value types of the GGUF spec (ids are the on-disk ids)
// and a value variant holding any of them, arrays (possibly nested) included.
// Plain data; safe to share read-only between threads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace nm {

enum class GgufType : uint32_t {
  u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7,
  string = 8, array = 9, u64 = 10, i64 = 11, f64 = 12,
};
constexpr uint32_t kGgufTypeCount = 13;

// "u32", "string", ... ; "?" for an id outside the spec.
std::string_view gguf_type_name(GgufType type);

struct GgufValue;

struct GgufArray {
  GgufType elem = GgufType::u8;  // type of every item
  std::vector<GgufValue> items;
};

// Alternative index == GgufType id, so `v.index()` is the on-disk type.
using GgufVariant = std::variant<uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, float, bool,
                                 std::string, GgufArray, uint64_t, int64_t, double>;

struct GgufValue {
  GgufVariant v;

  GgufValue() = default;
  template <class T>
  GgufValue(T x) : v(std::move(x)) {}  // NOLINT: implicit by design
  GgufValue(const char* s) : v(std::string(s)) {}  // NOLINT

  GgufType type() const { return static_cast<GgufType>(v.index()); }
  template <class T> const T* get_if() const { return std::get_if<T>(&v); }
  bool operator==(const GgufValue& o) const;
};

inline bool operator==(const GgufArray& a, const GgufArray& b) {
  return a.elem == b.elem && a.items == b.items;
}
inline bool GgufValue::operator==(const GgufValue& o) const { return v == o.v; }

// Builds an array value from a vector of plain items, e.g. gguf_array(std::vector<float>{...}).
template <class T>
GgufValue gguf_array(const std::vector<T>& xs) {
  GgufArray a;
  a.elem = GgufValue(T{}).type();
  a.items.reserve(xs.size());
  for (const T& x : xs) a.items.emplace_back(x);
  return GgufValue(std::move(a));
}

}  // namespace nm
