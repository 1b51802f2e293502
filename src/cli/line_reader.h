// Reading the lines of `nanomind chat`. On a terminal, with libedit (BSD editline, where
// the build found it): line editing (arrows, Ctrl-A/E/U/W), history (up/down), and
// Ctrl-D on a half-typed line does not send it. Otherwise (a pipe, a file, or no libedit)
// plain lines from standard input; on a terminal without libedit a line cut short by
// Ctrl-D is dropped, not sent. Ctrl-C while reading (with a SigintFlag installed,
// cli/sigint.h) ends the read like end of input; the caller tells them apart by the flag.
// Not thread-safe.
#pragma once

#include <memory>
#include <string>

namespace nm::cli {

class LineReader {
 public:
  // `prompt` is shown before each line on a terminal (on standard output).
  explicit LineReader(std::string prompt);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // The next line without its newline; false at end of input or on Ctrl-C.
  bool read(std::string& line);
  // Whether lines come from a line editor (a terminal with libedit).
  bool editing() const { return editing_; }

 private:
  std::string prompt_;
  bool tty_ = false;
  bool editing_ = false;
};

}  // namespace nm::cli
