#include "runtime/trace.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

namespace nm {

std::pair<int, int> Trace::track(const std::string& device, const std::string& brick) {
  auto [pit, new_pid] = pids_.emplace(device, (int)pids_.size() + 1);
  auto [tit, new_tid] = tids_.emplace(std::make_pair(device, brick), (int)tids_.size() + 1);
  (void)new_pid;
  (void)new_tid;
  return {pit->second, tit->second};
}

void Trace::slice(const std::string& device, const std::string& brick, const std::string& name, Clock::time_point start,
                  Clock::time_point end, const std::vector<std::pair<std::string, double>>& args) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto [pid, tid] = track(device, brick);
  events_.push_back({'X', pid, tid, name, us(start), std::max(0.0, us(end) - us(start)), 0, args});
}

void Trace::flow_start(uint64_t id, const std::string& device, const std::string& brick, Clock::time_point at) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto [pid, tid] = track(device, brick);
  events_.push_back({'s', pid, tid, "ring slot", us(at), 0, id, {}});
}

void Trace::flow_end(uint64_t id, const std::string& device, const std::string& brick, Clock::time_point at) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto [pid, tid] = track(device, brick);
  events_.push_back({'f', pid, tid, "ring slot", us(at), 0, id, {}});
}

uint64_t Trace::next_flow_id() {
  std::lock_guard<std::mutex> lock(mu_);
  return next_flow_++;
}

size_t Trace::n_events() const {
  std::lock_guard<std::mutex> lock(mu_);
  return events_.size();
}

std::string Trace::json() const {
  std::lock_guard<std::mutex> lock(mu_);
  nlohmann::json events = nlohmann::json::array();
  // Track names first: a process per device, a thread per brick.
  for (const auto& [device, pid] : pids_) {
    events.push_back({{"ph", "M"}, {"name", "process_name"}, {"pid", pid}, {"tid", 0}, {"args", {{"name", device}}}});
  }
  for (const auto& [key, tid] : tids_) {
    events.push_back({{"ph", "M"}, {"name", "thread_name"}, {"pid", pids_.at(key.first)}, {"tid", tid},
                      {"args", {{"name", key.second}}}});
  }
  for (const Event& e : events_) {
    nlohmann::json j = {{"ph", std::string(1, e.ph)}, {"name", e.name}, {"pid", e.pid}, {"tid", e.tid}, {"ts", e.ts_us}};
    if (e.ph == 'X') {
      j["dur"] = e.dur_us;
      j["cat"] = "brick";
      nlohmann::json args = nlohmann::json::object();
      for (const auto& [k, v] : e.args) args[k] = v;
      j["args"] = args;
    } else {
      j["cat"] = "ring";
      j["id"] = e.id;
      if (e.ph == 'f') j["bp"] = "e";  // bind to the slice enclosing the arrow's end
    }
    events.push_back(std::move(j));
  }
  return nlohmann::json{{"traceEvents", events}, {"displayTimeUnit", "ms"}}.dump();
}

Status Trace::write(const std::string& path) const {
  // Opened without blocking and checked by kind: a FIFO with no reader would block the
  // open forever, a device would swallow the trace.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0644);
  if (fd < 0) return error(ErrorCode::io_error, "cannot write the trace to '" + path + "': " + std::strerror(errno));
  struct stat st{};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return error(ErrorCode::invalid_argument, "cannot write the trace to '" + path + "': not a regular file");
  }
  const std::string text = json() + "\n";
  bool ok = ::ftruncate(fd, 0) == 0;
  for (size_t at = 0; ok && at < text.size();) {
    const ssize_t n = ::write(fd, text.data() + at, text.size() - at);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) at += (size_t)n;
  }
  const int saved = errno;
  if (::close(fd) != 0) ok = false;
  if (!ok) return error(ErrorCode::io_error, "cannot write the trace to '" + path + "': " + std::strerror(saved));
  return Status();
}

}  // namespace nm
