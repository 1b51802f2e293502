// UTF-8 helpers and category lookups (binary search over generated range tables).
#include "tokenizer/unicode.h"

#include <algorithm>
#include <cassert>

namespace nm {

size_t utf8_valid_prefix_len(std::string_view s, uint32_t* cp_out) {
  if (s.empty()) return 0;
  const auto b0 = static_cast<uint8_t>(s[0]);
  size_t len;
  uint32_t cp;
  uint32_t min_cp;
  if (b0 < 0x80) {
    if (cp_out) *cp_out = b0;
    return 1;
  } else if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1F, min_cp = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0F, min_cp = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07, min_cp = 0x10000;
  } else {
    return 0;
  }
  if (s.size() < len) return 0;
  for (size_t i = 1; i < len; ++i) {
    const auto b = static_cast<uint8_t>(s[i]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min_cp || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  if (cp_out) *cp_out = cp;
  return len;
}

std::vector<Utf8Unit> utf8_units(std::string_view s) {
  std::vector<Utf8Unit> units;
  units.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    uint32_t cp = 0;
    size_t len = utf8_valid_prefix_len(s.substr(i), &cp);
    if (len == 0) {
      cp = k_invalid_codepoint;
      len = 1;
    }
    units.push_back({cp, static_cast<uint32_t>(i), static_cast<uint32_t>(len)});
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
      utf8_append(out, k_replacement_char);
    } else {
      out.append(s.substr(u.offset, u.length));
    }
  }
  return out;
}

size_t utf8_incomplete_tail(std::string_view s) {
  // Look back at most 3 bytes for a lead byte whose sequence runs past the end.
  for (size_t back = 1; back <= 3 && back <= s.size(); ++back) {
    const auto b = static_cast<uint8_t>(s[s.size() - back]);
    if ((b & 0xC0) == 0x80) continue;  // continuation: keep looking for the lead
    size_t need = 0;
    if ((b & 0xE0) == 0xC0) need = 2;
    else if ((b & 0xF0) == 0xE0) need = 3;
    else if ((b & 0xF8) == 0xF0) need = 4;
    if (need <= back) return 0;  // ASCII, invalid lead, or a complete sequence
    // Held back only if the bytes so far could still become a valid sequence: check by
    // completing it with the smallest continuation bytes that keep it in range.
    std::string probe(s.substr(s.size() - back));
    while (probe.size() < need) probe += static_cast<char>(0x80);
    if (utf8_valid_prefix_len(probe) == need) return back;
    std::string probe_hi(s.substr(s.size() - back));
    while (probe_hi.size() < need) probe_hi += static_cast<char>(0xBF);
    return utf8_valid_prefix_len(probe_hi) == need ? back : 0;
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
