#include "runtime/token_ring.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>

namespace nm {

const char* slot_state_name(SlotState s) {
  switch (s) {
    case SlotState::free: return "FREE";
    case SlotState::writing: return "WRITING";
    case SlotState::ready: return "READY";
    case SlotState::reading: return "READING";
  }
  return "?";
}

const char* backpressure_name(Backpressure b) { return b == Backpressure::block ? "block" : "drop-oldest"; }

Result<std::unique_ptr<TokenRing>> TokenRing::create(int n_slots, size_t slot_bytes, Backpressure policy) {
  if (n_slots < 1 || n_slots > 1024) return error(ErrorCode::invalid_argument, "a token ring needs 1 to 1024 slots");
  if (slot_bytes == 0) return error(ErrorCode::invalid_argument, "token ring slots must hold at least one byte");
  // Slots start on page boundaries, so a device can also import them one by one.
  const size_t page = (size_t)sysconf(_SC_PAGESIZE);
  std::unique_ptr<TokenRing> r(new TokenRing());
  r->slot_bytes_ = (slot_bytes + page - 1) / page * page;
  r->policy_ = policy;
  NM_ASSIGN_OR_RETURN(r->buffer_, VirtualBuffer::reserve(r->slot_bytes_ * (size_t)n_slots));
  r->slots_.resize((size_t)n_slots);
  return r;
}

Backpressure TokenRing::policy() const {
  std::lock_guard<std::mutex> lock(mu_);
  return policy_;
}

void TokenRing::set_policy(Backpressure policy) {
  std::lock_guard<std::mutex> lock(mu_);
  policy_ = policy;
}

void TokenRing::set_drop_callback(DropCallback cb) {
  std::lock_guard<std::mutex> lock(mu_);
  on_drop_ = std::move(cb);
}

void TokenRing::set_wait_hooks(WaitHook reader, WaitHook writer, WaitHook on_change) {
  std::lock_guard<std::mutex> lock(mu_);
  read_hook_ = std::move(reader);
  write_hook_ = std::move(writer);
  change_hook_ = std::move(on_change);
}

void TokenRing::wake_waiters() {
  changed_.notify_all();
  WaitHook poke;
  {
    std::lock_guard<std::mutex> lock(mu_);
    poke = change_hook_;
  }
  if (poke) poke();
}

void TokenRing::wait_for_change(std::unique_lock<std::mutex>& lock, const WaitHook& hook) {
  if (!hook) {
    changed_.wait(lock);
    return;
  }
  lock.unlock();
  hook();
  lock.lock();
}

Status TokenRing::check_slot(int slot, SlotState expected, const char* op) const {
  if (slot < 0 || slot >= (int)slots_.size()) {
    return error(ErrorCode::invalid_argument, std::string("token ring: ") + op + " of slot " + std::to_string(slot) +
                                                  ", which does not exist (" + std::to_string(slots_.size()) + " slots)");
  }
  const SlotState s = slots_[(size_t)slot].state;
  if (s != expected) {
    return error(ErrorCode::invalid_argument, std::string("token ring: ") + op + " of slot " + std::to_string(slot) +
                                                  " in state " + slot_state_name(s) + " (needs " + slot_state_name(expected) + ")");
  }
  return Status();
}

void TokenRing::update_peak() {
  size_t held = 0;
  for (const Slot& s : slots_) {
    if (s.state != SlotState::free) held += (size_t)(s.n_tokens * s.width) * sizeof(float);
  }
  stats_.peak_bytes = std::max(stats_.peak_bytes, held);
}

Result<int> TokenRing::acquire_write(int64_t n_tokens, int64_t width, uint64_t tag) {
  if (n_tokens <= 0 || width <= 0) return error(ErrorCode::invalid_argument, "token ring: an output needs rows and a width");
  const size_t bytes = (size_t)(n_tokens * width) * sizeof(float);
  if (bytes > slot_bytes_) {
    return error(ErrorCode::out_of_range, "token ring: an output of " + std::to_string(n_tokens) + " x " + std::to_string(width) +
                                              " floats does not fit a slot of " + std::to_string(slot_bytes_) + " bytes");
  }
  std::unique_lock<std::mutex> lock(mu_);
  const WaitHook hook = write_hook_;
  for (;;) {
    if (closed_) return error(ErrorCode::io_error, "token ring: closed");
    for (size_t i = 0; i < slots_.size(); ++i) {
      Slot& s = slots_[i];
      if (s.state != SlotState::free) continue;
      s = Slot{SlotState::writing, n_tokens, width, tag};
      update_peak();
      return (int)i;
    }
    if (policy_ == Backpressure::drop_oldest && !ready_.empty()) {
      const int victim = ready_.front();
      ready_.pop_front();
      Slot& s = slots_[(size_t)victim];
      if (on_drop_) on_drop_(victim, s.tag);
      s = Slot{};
      stats_.drops++;
      continue;
    }
    wait_for_change(lock, hook);
  }
}

Status TokenRing::commit(int slot) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    NM_RETURN_IF_ERROR(check_slot(slot, SlotState::writing, "commit"));
    slots_[(size_t)slot].state = SlotState::ready;
    ready_.push_back(slot);
    stats_.handoffs++;
  }
  wake_waiters();
  return Status();
}

Status TokenRing::abort_write(int slot) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    NM_RETURN_IF_ERROR(check_slot(slot, SlotState::writing, "abort_write"));
    slots_[(size_t)slot] = Slot{};
  }
  wake_waiters();
  return Status();
}

Result<int> TokenRing::wait_ready(int timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  auto woken = [&] { return !ready_.empty() || closed_; };
  if (timeout_ms < 0) {
    const WaitHook hook = read_hook_;
    while (!woken()) wait_for_change(lock, hook);
  } else if (!changed_.wait_for(lock, std::chrono::milliseconds(timeout_ms), woken)) {
    return error(ErrorCode::out_of_range, "token ring: nothing ready after " + std::to_string(timeout_ms) + " ms");
  }
  if (ready_.empty()) return error(ErrorCode::io_error, "token ring: closed");
  const int slot = ready_.front();
  ready_.pop_front();
  slots_[(size_t)slot].state = SlotState::reading;
  return slot;
}

Result<int> TokenRing::acquire_read() { return wait_ready(-1); }

Result<int> TokenRing::try_acquire_read(int timeout_ms) { return wait_ready(std::max(timeout_ms, 0)); }

Status TokenRing::release(int slot) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    NM_RETURN_IF_ERROR(check_slot(slot, SlotState::reading, "release"));
    slots_[(size_t)slot] = Slot{};
  }
  wake_waiters();
  return Status();
}

std::span<float> TokenRing::data(int slot) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (slot < 0 || slot >= (int)slots_.size()) return {};
  const Slot& s = slots_[(size_t)slot];
  auto* base = reinterpret_cast<float*>(static_cast<char*>(buffer_.data()) + (size_t)slot * slot_bytes_);
  return {base, (size_t)(s.n_tokens * s.width)};
}

int64_t TokenRing::n_tokens(int slot) const {
  std::lock_guard<std::mutex> lock(mu_);
  return slot >= 0 && slot < (int)slots_.size() ? slots_[(size_t)slot].n_tokens : 0;
}

uint64_t TokenRing::tag(int slot) const {
  std::lock_guard<std::mutex> lock(mu_);
  return slot >= 0 && slot < (int)slots_.size() ? slots_[(size_t)slot].tag : 0;
}

SlotState TokenRing::state(int slot) const {
  std::lock_guard<std::mutex> lock(mu_);
  return slot >= 0 && slot < (int)slots_.size() ? slots_[(size_t)slot].state : SlotState::free;
}

void TokenRing::close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  wake_waiters();
}

void TokenRing::reopen() {
  std::lock_guard<std::mutex> lock(mu_);
  for (int slot : ready_) {
    if (on_drop_) on_drop_(slot, slots_[(size_t)slot].tag);
    slots_[(size_t)slot] = Slot{};
    stats_.drops++;
  }
  ready_.clear();
  closed_ = false;
}

void TokenRing::count_copy(size_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.bytes_copied += bytes;
}

RingStats TokenRing::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace nm
