// UTF-8 decoding/encoding that never fails (ill-formed bytes become invalid units) and the
// Unicode category queries (\p{L}, \p{N}, \p{M}, \s) the pre-tokenizers need.
// All functions are pure and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nm {

struct CodepointRange {
  uint32_t first;
  uint32_t last;  // inclusive
};

namespace unicode_tables {
extern const CodepointRange k_letter[];
extern const size_t k_letter_count;
extern const CodepointRange k_number[];
extern const size_t k_number_count;
extern const CodepointRange k_mark[];
extern const size_t k_mark_count;
}  // namespace unicode_tables

// Marks a unit that is not a valid UTF-8 sequence (a stray or truncated byte).
inline constexpr uint32_t k_invalid_codepoint = 0xFFFFFFFFu;
inline constexpr uint32_t k_replacement_char = 0xFFFD;

// One decoded unit of a byte string: a code point (or k_invalid_codepoint for a maximal
// ill-formed subpart, 1-3 bytes, as Unicode recommends) and the bytes it came from, so
// callers can slice the original exactly.
struct Utf8Unit {
  uint32_t cp;
  uint32_t offset;
  uint32_t length;
};

// Length of the valid UTF-8 sequence starting at s[0] (1..4), or 0 if s does not start
// with one (bad lead byte, bad continuation, overlong, surrogate, > U+10FFFF, truncated).
size_t utf8_valid_prefix_len(std::string_view s, uint32_t* cp_out = nullptr);

// Splits bytes into units; every byte belongs to exactly one unit.
std::vector<Utf8Unit> utf8_units(std::string_view s);

void utf8_append(std::string& out, uint32_t cp);  // cp must be a scalar value
std::string utf8_encode(uint32_t cp);

// Copies s, replacing each maximal ill-formed subpart with one U+FFFD (as Python's
// bytes.decode("utf-8", errors="replace")).
std::string utf8_sanitize(std::string_view s);

// Number of trailing bytes of s that form the start of a valid but incomplete UTF-8
// sequence (0..3): what a streaming decoder should hold back.
size_t utf8_incomplete_tail(std::string_view s);

bool is_letter(uint32_t cp);
bool is_number(uint32_t cp);
bool is_mark(uint32_t cp);
bool is_whitespace(uint32_t cp);  // the White_Space property (what \s matches)

}  // namespace nm
