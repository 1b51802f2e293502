// UTF-8 helpers and category lookups (binary search over generated range tables).
#include "tokenizer/unicode.h"

#include <algorithm>
#include <cassert>

namespace nm {

namespace {
// Decodes one sequence at s[0] following the Unicode "maximal subpart" rule (as Python's
// errors="replace" and WHATWG): returns the bytes consumed (>= 1 for non-empty s) and
// sets *valid. An ill-formed sequence consumes its longest prefix that could still have
// been valid, so it becomes one U+FFFD.
size_t utf8_decode_one(std::string_view s, uint32_t* cp_out, bool* valid) {
  *valid = false;
  if (s.empty()) return 0;
  const auto b0 = static_cast<uint8_t>(s[0]);
  if (b0 < 0x80) {
    *cp_out = b0;
    *valid = true;
    return 1;
  }
  size_t len;
  uint32_t cp;
  uint8_t lo = 0x80;  // allowed range of the second byte (excludes overlongs, surrogates, > U+10FFFF)
  uint8_t hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2, cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3, cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4, cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 1;
  }
  for (size_t i = 1; i < len; ++i) {
    if (i >= s.size()) return i;
    const auto b = static_cast<uint8_t>(s[i]);
    const uint8_t l = i == 1 ? lo : 0x80;
    const uint8_t h = i == 1 ? hi : 0xBF;
    if (b < l || b > h) return i;
    cp = (cp << 6) | (b & 0x3F);
  }
  *cp_out = cp;
  *valid = true;
  return len;
}
}  // namespace

size_t utf8_valid_prefix_len(std::string_view s, uint32_t* cp_out) {
  uint32_t cp = 0;
  bool valid = false;
  const size_t n = utf8_decode_one(s, &cp, &valid);
  if (!valid) return 0;
  if (cp_out) *cp_out = cp;
  return n;
}

std::vector<Utf8Unit> utf8_units(std::string_view s) {
  std::vector<Utf8Unit> units;
  units.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    uint32_t cp = 0;
    bool valid = false;
    const size_t len = utf8_decode_one(s.substr(i), &cp, &valid);
    units.push_back({valid ? cp : k_invalid_codepoint, static_cast<uint32_t>(i), static_cast<uint32_t>(len)});
    i += len;
  }
  return units;
}

void utf8_append(std::string& out, uint32_t cp) {
  assert(cp <= 0x10FFFF);
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string utf8_encode(uint32_t cp) {
  std::string s;
  utf8_append(s, cp);
  return s;
}

std::string utf8_sanitize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const Utf8Unit& u : utf8_units(s)) {
    if (u.cp == k_invalid_codepoint) {
      utf8_append(out, k_replacement_char);  // one per maximal ill-formed subpart
    } else {
      out.append(s.substr(u.offset, u.length));
    }
  }
  return out;
}

size_t utf8_incomplete_tail(std::string_view s) {
  // The last unit is an incomplete (not yet ill-formed) sequence when it is invalid, ends
  // exactly at the end of s, and starts with a multi-byte lead: more bytes may complete it.
  const size_t from = s.size() > 3 ? s.size() - 3 : 0;
  for (size_t i = from; i < s.size(); ++i) {
    const auto b = static_cast<uint8_t>(s[i]);
    if (b < 0xC2 || b > 0xF4) continue;  // not a multi-byte lead
    uint32_t cp = 0;
    bool valid = false;
    const size_t n = utf8_decode_one(s.substr(i), &cp, &valid);
    if (!valid && i + n == s.size()) return n;
  }
  return 0;
}

namespace {
bool in_ranges(const CodepointRange* ranges, size_t n, uint32_t cp) {
  const CodepointRange* end = ranges + n;
  const CodepointRange* it =
      std::upper_bound(ranges, end, cp, [](uint32_t c, const CodepointRange& r) { return c < r.first; });
  if (it == ranges) return false;
  --it;
  return cp <= it->last;
}
}  // namespace

bool is_letter(uint32_t cp) {
  return cp != k_invalid_codepoint && in_ranges(unicode_tables::k_letter, unicode_tables::k_letter_count, cp);
}
bool is_number(uint32_t cp) {
  return cp != k_invalid_codepoint && in_ranges(unicode_tables::k_number, unicode_tables::k_number_count, cp);
}
bool is_mark(uint32_t cp) {
  return cp != k_invalid_codepoint && in_ranges(unicode_tables::k_mark, unicode_tables::k_mark_count, cp);
}

bool is_whitespace(uint32_t cp) {
  // White_Space property (PropList.txt); stable since Unicode 6.3.
  switch (cp) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20: case 0x85: case 0xA0:
    case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

}  // namespace nm
