// response_format {"type": "json_object"} as a grammar-free best effort. Nothing constrains
// the sampler: the request must ask the model for JSON in its messages (OpenAI refuses a
// json_object request whose messages never say "JSON", and so does this server), and the
// answer is cut to the first JSON object the model writes: text before its opening '{' is
// dropped (a preamble, a ```json fence), and the answer ends where that object closes.
// Whether the result parses as JSON is reported with the answer, never assumed.
// Not thread-safe: one filter per answer, fed by the scheduler thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace nm::server {

// Where a JSON text is, byte by byte: inside a string (with its escapes) or at a bracket
// depth. Shared by the filter below and the parser's nesting check (request.cpp).
struct JsonScanner {
  int depth = 0;
  bool in_string = false, escaped = false;
  // Takes one byte; returns +1 at an opening bracket, -1 at a closing one, else 0.
  int step(char c);
};

class JsonObjectFilter {
 public:
  // Takes the next piece of the answer; returns the part of it that belongs to the object
  // (empty before the object starts and after it closed).
  std::string feed(std::string_view piece);
  bool started() const { return started_; }
  bool closed() const { return closed_; }
  size_t dropped_bytes() const { return dropped_; }  // text before the object and after it

 private:
  JsonScanner scan_;
  bool started_ = false, closed_ = false;
  size_t dropped_ = 0;
};

}  // namespace nm::server
