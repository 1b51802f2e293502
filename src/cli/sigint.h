// Ctrl-C for the interactive commands: while a SigintFlag lives, SIGINT only raises a flag
// (no SA_RESTART, so a blocking read returns), which `chat` polls between generated
// tokens (stop the reply, keep the conversation) and after reading a line (leave). The
// previous handler comes back when it is destroyed. One at a time per process: a signal
// handler can reach only process-wide state, so the flag is the one static in the CLI.
#pragma once

#include <csignal>

namespace nm::cli {

class SigintFlag {
 public:
  SigintFlag();
  ~SigintFlag();
  SigintFlag(const SigintFlag&) = delete;
  SigintFlag& operator=(const SigintFlag&) = delete;

  // Whether Ctrl-C was pressed since the last take(); clears it.
  bool take();
  bool raised() const;

 private:
  struct sigaction previous_ {};
};

}  // namespace nm::cli
