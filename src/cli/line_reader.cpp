#include "cli/line_reader.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#if defined(NM_HAVE_LIBEDIT)
#include <editline/readline.h>
#endif

namespace nm::cli {

LineReader::LineReader(std::string prompt) : prompt_(std::move(prompt)) {
  tty_ = isatty(STDIN_FILENO) == 1;
#if defined(NM_HAVE_LIBEDIT)
  editing_ = tty_ && isatty(STDOUT_FILENO) == 1;
  if (editing_) {
    rl_readline_name = "nanomind";
    using_history();
  }
#endif
}

LineReader::~LineReader() = default;

bool LineReader::read(std::string& line) {
  line.clear();
#if defined(NM_HAVE_LIBEDIT)
  if (editing_) {
    // NULL at end of input (Ctrl-D on an empty line) and when SIGINT interrupted the read.
    char* l = readline(prompt_.c_str());
    if (!l) {
      std::fputs("\n", stdout);
      return false;
    }
    line = l;
    std::free(l);
    if (!line.empty()) add_history(line.c_str());
    return true;
  }
#endif
  std::fputs(prompt_.c_str(), stdout);
  std::fflush(stdout);
  if (!std::getline(std::cin, line)) return false;
  // On a terminal, Ctrl-D ends input without Enter: a half-typed line is not sent.
  return !(tty_ && std::cin.eof());
}

}  // namespace nm::cli
