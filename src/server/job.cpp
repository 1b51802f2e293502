#include "server/job.h"

namespace nm::server {

void Job::mark_started() {
  std::lock_guard<std::mutex> lock(mu_);
  started_ = true;
  cv_.notify_all();
}

void Job::append(const std::string& piece) {
  if (piece.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  text_ += piece;
  cv_.notify_all();
}

void Job::finish(const JobResult& result) {
  std::lock_guard<std::mutex> lock(mu_);
  result_ = result;
  started_ = done_ = true;
  cv_.notify_all();
}

void Job::fail(ApiError error) {
  std::lock_guard<std::mutex> lock(mu_);
  error_ = std::move(error);
  started_ = done_ = true;
  cv_.notify_all();
}

bool Job::wait_started(std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, wait, [&] { return started_; });
}

std::string Job::take(std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, wait, [&] { return !text_.empty() || done_; });
  std::string out;
  out.swap(text_);
  return out;
}

bool Job::done() const {
  std::lock_guard<std::mutex> lock(mu_);
  return done_ && text_.empty();
}

std::optional<ApiError> Job::error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return error_;
}

JobResult Job::result() const {
  std::lock_guard<std::mutex> lock(mu_);
  return result_;
}

}  // namespace nm::server
