// Blocking wake-up sources for on-demand mode (see wake_events.h).
#include "runtime/wake_events.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <deque>
#include <mutex>

namespace nm {

struct WakeEvents::Shared {
  std::mutex mu;
  std::deque<std::string> messages;
};

Result<std::unique_ptr<WakeEvents>> WakeEvents::create() {
  std::unique_ptr<WakeEvents> w(new WakeEvents());
  w->event_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (w->event_fd_ < 0) return error(ErrorCode::io_error, std::string("eventfd: ") + std::strerror(errno));
  w->shared_ = std::make_shared<Shared>();
  return w;
}

WakeEvents::~WakeEvents() {
  if (inotify_fd_ >= 0) ::close(inotify_fd_);
  if (event_fd_ >= 0) ::close(event_fd_);
}

Status WakeEvents::watch_folder(const std::string& dir) {
  if (inotify_fd_ < 0) {
    inotify_fd_ = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (inotify_fd_ < 0) return error(ErrorCode::io_error, std::string("inotify: ") + std::strerror(errno));
  }
  const int wd = ::inotify_add_watch(inotify_fd_, dir.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO | IN_ONLYDIR);
  if (wd < 0) return error(ErrorCode::io_error, dir + ": cannot watch the folder: " + std::strerror(errno));
  std::string d = dir;
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  watches_.emplace_back(wd, d);
  return Status::ok_status();
}

Status WakeEvents::watch_lines(int fd) {
  if (fd < 0) return error(ErrorCode::invalid_argument, "watch_lines: not a descriptor");
  line_fd_ = fd;
  line_eof_ = false;
  return Status::ok_status();
}

void WakeEvents::notify(const std::string& message) {
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->messages.push_back(message);
  }
  const uint64_t one = 1;
  ssize_t r;
  do r = ::write(event_fd_, &one, sizeof one);
  while (r < 0 && errno == EINTR);  // EAGAIN: the counter is already non-zero, the wait wakes anyway
}

Status WakeEvents::fill_queue(int timeout_ms) {
  pollfd fds[3];
  int n = 0;
  const int i_event = n;
  fds[n++] = {event_fd_, POLLIN, 0};
  const int i_inotify = inotify_fd_ >= 0 ? n : -1;
  if (inotify_fd_ >= 0) fds[n++] = {inotify_fd_, POLLIN, 0};
  const int i_line = line_fd_ >= 0 && !line_eof_ ? n : -1;
  if (i_line >= 0) fds[n++] = {line_fd_, POLLIN, 0};
  int r;
  do r = ::poll(fds, static_cast<nfds_t>(n), timeout_ms);
  while (r < 0 && errno == EINTR);
  if (r < 0) return error(ErrorCode::io_error, std::string("poll: ") + std::strerror(errno));
  if (r == 0) return Status::ok_status();

  if (fds[i_event].revents & POLLIN) {
    uint64_t count;
    (void)!::read(event_fd_, &count, sizeof count);
    std::lock_guard<std::mutex> lock(shared_->mu);
    while (!shared_->messages.empty()) {
      queue_.push_back({WakeEvent::Kind::notify, shared_->messages.front()});
      shared_->messages.pop_front();
    }
  }
  if (i_inotify >= 0 && (fds[i_inotify].revents & POLLIN)) {
    alignas(inotify_event) char buf[4096];
    ssize_t len;
    while ((len = ::read(inotify_fd_, buf, sizeof buf)) > 0) {
      for (ssize_t off = 0; off + static_cast<ssize_t>(sizeof(inotify_event)) <= len;) {
        const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
        if (ev->len > 0 && !(ev->mask & IN_ISDIR)) {
          std::string folder;
          for (const auto& [wd, d] : watches_)
            if (wd == ev->wd) folder = d;
          queue_.push_back({WakeEvent::Kind::file, folder + "/" + ev->name});
        }
        off += static_cast<ssize_t>(sizeof(inotify_event)) + ev->len;
      }
    }
  }
  if (i_line >= 0 && (fds[i_line].revents & (POLLIN | POLLHUP | POLLERR))) {
    char buf[4096];
    const ssize_t len = ::read(line_fd_, buf, sizeof buf);
    if (len <= 0) {
      if (len < 0 && (errno == EAGAIN || errno == EINTR)) return Status::ok_status();
      line_eof_ = true;
      if (!line_buf_.empty()) queue_.push_back({WakeEvent::Kind::line, line_buf_});
      line_buf_.clear();
      queue_.push_back({WakeEvent::Kind::end_of_input, ""});
    } else {
      line_buf_.append(buf, static_cast<size_t>(len));
      for (size_t nl; (nl = line_buf_.find('\n')) != std::string::npos;) {
        queue_.push_back({WakeEvent::Kind::line, line_buf_.substr(0, nl)});
        line_buf_.erase(0, nl + 1);
      }
      if (line_buf_.size() > (1 << 20)) {  // a "line" of a megabyte: hand it over rather than grow
        queue_.push_back({WakeEvent::Kind::line, line_buf_});
        line_buf_.clear();
      }
    }
  }
  return Status::ok_status();
}

Result<WakeEvent> WakeEvents::wait(double timeout_s) {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  // poll() can wake for nothing we hand out (a directory event, a spurious readiness):
  // wait again for the rest of the time.
  while (queue_.empty()) {
    int ms = -1;
    if (timeout_s >= 0) {
      const double left = timeout_s - std::chrono::duration<double>(clock::now() - start).count();
      if (left <= 0) break;
      ms = static_cast<int>(std::min(std::ceil(left * 1000.0), double{INT_MAX}));
    }
    NM_RETURN_IF_ERROR(fill_queue(ms));
  }
  if (queue_.empty()) return WakeEvent{WakeEvent::Kind::timeout, ""};
  WakeEvent e = std::move(queue_.front());
  queue_.erase(queue_.begin());
  return e;
}

}  // namespace nm
