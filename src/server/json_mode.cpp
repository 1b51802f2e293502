#include "server/json_mode.h"

namespace nm::server {

int JsonScanner::step(char c) {
  if (in_string) {
    if (escaped) escaped = false;
    else if (c == '\\') escaped = true;
    else if (c == '"') in_string = false;
    return 0;
  }
  if (c == '"') in_string = true;
  if (c == '{' || c == '[') {
    ++depth;
    return 1;
  }
  if (c == '}' || c == ']') {
    --depth;
    return -1;
  }
  return 0;
}

std::string JsonObjectFilter::feed(std::string_view piece) {
  std::string out;
  for (const char c : piece) {
    if (closed_ || (!started_ && c != '{')) {
      dropped_++;
      continue;
    }
    started_ = true;
    out += c;
    if (scan_.step(c) < 0 && scan_.depth == 0) closed_ = true;
  }
  return out;
}

}  // namespace nm::server
