// Strict base64 decoding (RFC 4648, standard alphabet, '=' padding optional at the end)
// for image data: URIs. Any other byte, including whitespace, makes the input invalid.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace nm::server {

// The decoded bytes, or nothing when `text` is not valid base64.
std::optional<std::vector<uint8_t>> base64_decode(std::string_view text);

}  // namespace nm::server
