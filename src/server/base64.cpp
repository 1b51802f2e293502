#include "server/base64.h"

#include <array>

namespace nm::server {
namespace {

constexpr std::array<int8_t, 256> make_table() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (int i = 0; i < 64; ++i) t[(uint8_t)alphabet[i]] = (int8_t)i;
  return t;
}
constexpr std::array<int8_t, 256> kTable = make_table();

}  // namespace

std::optional<std::vector<uint8_t>> base64_decode(std::string_view text) {
  size_t n = text.size();
  size_t pad = 0;
  while (n > 0 && pad < 2 && text[n - 1] == '=') {
    --n;
    ++pad;
  }
  if (n % 4 == 1) return std::nullopt;                       // 6 bits cannot end a byte
  if (pad > 0 && (n + pad) % 4 != 0) return std::nullopt;    // padding must complete a quantum
  std::vector<uint8_t> out;
  out.reserve(n / 4 * 3 + 2);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; ++i) {
    const int8_t v = kTable[(uint8_t)text[i]];
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back((uint8_t)(acc >> bits));
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;  // non-canonical trailing bits
  return out;
}

}  // namespace nm::server
