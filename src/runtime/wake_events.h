// WakeEvents: what ends an idle wait in on-demand mode — a file appearing in a watched
// folder (a camera that drops frames into a directory), a line on a file descriptor
// (standard input), or a notification from another thread (the HTTP server, voice
// activity detection). wait() blocks in poll(2) on inotify, the descriptors and an
// eventfd, so an idle process takes no CPU time at all: no polling loop, no timer.
// Thread-safety: notify() may be called from any thread; everything else from the one
// thread that waits.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace nm {

struct WakeEvent {
  enum class Kind { file, line, notify, end_of_input, timeout } kind = Kind::timeout;
  std::string text;  // file: its path; line: the line without '\n'; notify: the message
};

class WakeEvents {
 public:
  static Result<std::unique_ptr<WakeEvents>> create();
  ~WakeEvents();
  WakeEvents(const WakeEvents&) = delete;
  WakeEvents& operator=(const WakeEvents&) = delete;

  // Files completely written into `dir` (closed after writing, or moved in) wake the wait.
  Status watch_folder(const std::string& dir);
  // Each line read from `fd` wakes the wait; end of input wakes it once with end_of_input.
  // The descriptor stays owned by the caller.
  Status watch_lines(int fd);
  // Wakes a wait from another thread; messages queue in order.
  void notify(const std::string& message);

  // Blocks until an event (timeout_s < 0: for ever). Returns queued events first.
  Result<WakeEvent> wait(double timeout_s = -1);

 private:
  WakeEvents() = default;
  Status fill_queue(int timeout_ms);

  int inotify_fd_ = -1, event_fd_ = -1, line_fd_ = -1;
  std::vector<std::pair<int, std::string>> watches_;  // inotify watch descriptor -> folder
  std::string line_buf_;
  bool line_eof_ = false;
  std::vector<WakeEvent> queue_;
  struct Shared;
  std::shared_ptr<Shared> shared_;  // notify() messages, guarded by a mutex
};

}  // namespace nm
