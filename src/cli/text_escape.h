// Escaping of text that comes from files (GGUF keys, tensor names, string values) before it
// reaches a terminal or a JSON document: a hostile model file must not be able to send
// escape sequences to the user's terminal, nor make `inspect --json` print invalid JSON.
#pragma once

#include <string>
#include <string_view>

namespace nm::cli {

// For a terminal: valid UTF-8 passes except control characters (C0, DEL, C1), which become
// \n, \t or \xNN; each byte of invalid UTF-8 becomes \xNN. Printable text is unchanged.
std::string terminal_safe(std::string_view s);

// A JSON string literal with its quotes: '"', '\' and control characters escaped; each
// byte of invalid UTF-8 becomes U+FFFD, so the output is always valid UTF-8 JSON.
std::string json_string(std::string_view s);

}  // namespace nm::cli
