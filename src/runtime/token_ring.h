// TokenRing: the token-aware buffer manager between two bricks. One allocation of host
// memory (page-aligned, reserved in virtual memory so pages arrive when first written),
// cut into n_slots slots, each sized for one producer output: its token count x embedding
// width, known before the producer runs (an image's plan, a prompt's tokens). Every device
// of a unified-memory SoC addresses it: region() is handed to the bricks' graphs, and an
// OpenCL device imports it whole (CL_MEM_USE_HOST_PTR) when it prepares them.
//
// A slot moves FREE -> WRITING -> READY -> READING -> FREE:
//   producer: acquire_write() -> its graph writes its result straight into data(slot) ->
//             commit() (or abort_write() when it failed, back to FREE);
//   consumer: acquire_read() (the oldest READY slot) -> its graph reads data(slot) in
//             place -> release().
// Any other transition is refused with an error, and data is never handed to a reader
// while a writer holds it. When no slot is FREE, the ring applies its backpressure policy:
// block (the producer waits for a release) or drop_oldest (the oldest READY slot is
// dropped and counted: camera frames, where only the newest matter).
// The ring counts hand-offs, drops, the bytes bricks copied instead of working in place
// (count_copy(); 0 on the CPU and PoCL paths) and the peak bytes held in slots.
// Thread-safety: every method may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "core/status.h"
#include "core/virtual_buffer.h"
#include "graph/graph.h"

namespace nm {

enum class SlotState : uint8_t { free, writing, ready, reading };
const char* slot_state_name(SlotState s);

enum class Backpressure : uint8_t { block, drop_oldest };
const char* backpressure_name(Backpressure b);

struct RingStats {
  uint64_t handoffs = 0;       // slots committed
  uint64_t drops = 0;          // READY slots dropped by drop_oldest
  uint64_t bytes_copied = 0;   // bytes moved between bricks by copying (count_copy)
  size_t peak_bytes = 0;       // most bytes held in non-FREE slots at once (their token rows)
};

class TokenRing {
 public:
  // Called with (slot, tag) when drop_oldest drops a READY slot (e.g. to report a frame
  // that gets no answer). Runs under the ring's lock: it must not call back into the ring.
  using DropCallback = std::function<void(int slot, uint64_t tag)>;

  static Result<std::unique_ptr<TokenRing>> create(int n_slots, size_t slot_bytes, Backpressure policy);

  int n_slots() const { return (int)slots_.size(); }
  size_t slot_bytes() const { return slot_bytes_; }
  Backpressure policy() const;
  void set_policy(Backpressure policy);
  MemoryRegion region() const { return {buffer_.data(), buffer_.size()}; }
  void set_drop_callback(DropCallback cb);
  // What a waiter does instead of sleeping: acquire_read() waiting for a READY slot calls
  // `reader`, acquire_write() waiting for a FREE one calls `writer` (a stream's worker
  // lends its core to the other CPU cluster's pool meanwhile: ThreadPool::help). Called
  // without the ring's lock; each call must return within a few milliseconds, and the wait
  // re-checks the ring after it. Empty: the waiter sleeps until the ring changes.
  // `on_change` runs (without the lock) after every change a waiter may be waiting for
  // (commit, abort, release, close), to cut a hook's wait short (ThreadPool::interrupt_guests).
  using WaitHook = std::function<void()>;
  void set_wait_hooks(WaitHook reader, WaitHook writer, WaitHook on_change = nullptr);

  // FREE -> WRITING for an output of n_tokens x width floats, tagged (e.g. the frame
  // number). Applies the backpressure policy when no slot is free. Errors: the output
  // does not fit a slot (out_of_range), the ring was closed (io_error).
  Result<int> acquire_write(int64_t n_tokens, int64_t width, uint64_t tag = 0);
  Status commit(int slot);       // WRITING -> READY
  Status abort_write(int slot);  // WRITING -> FREE
  // READY -> READING: the oldest READY slot; waits for one (error io_error once the ring
  // is closed and none is left).
  Result<int> acquire_read();
  // As acquire_read(), but gives up after timeout_ms (out_of_range) when none is READY.
  Result<int> try_acquire_read(int timeout_ms);
  Status release(int slot);      // READING -> FREE

  // The slot's token rows (n_tokens x width floats); valid while the caller holds it.
  std::span<float> data(int slot) const;
  int64_t n_tokens(int slot) const;
  uint64_t tag(int slot) const;
  SlotState state(int slot) const;

  // Wakes every waiter; later acquires fail. Slots held stay valid until released.
  void close();
  // Makes a closed ring usable again (a stream ends by closing it; the next reuses it).
  // Slots left READY are dropped (counted as drops).
  void reopen();
  void count_copy(size_t bytes);
  RingStats stats() const;

 private:
  struct Slot {
    SlotState state = SlotState::free;
    int64_t n_tokens = 0, width = 0;
    uint64_t tag = 0;
  };
  TokenRing() = default;
  Status check_slot(int slot, SlotState expected, const char* op) const;  // under mu_
  void update_peak();                                                     // under mu_
  Result<int> wait_ready(int timeout_ms);  // timeout_ms < 0: no limit

  VirtualBuffer buffer_;
  size_t slot_bytes_ = 0;
  Backpressure policy_ = Backpressure::block;  // under mu_
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::vector<Slot> slots_;
  std::deque<int> ready_;  // READY slots, oldest first
  bool closed_ = false;
  RingStats stats_;
  DropCallback on_drop_;
  WaitHook read_hook_, write_hook_, change_hook_;  // under mu_
  void wake_waiters();  // after a change, outside mu_: notifies changed_, runs change_hook_
  // Under mu_ (held by `lock`): sleeps until the ring changes, or runs `hook` unlocked.
  void wait_for_change(std::unique_lock<std::mutex>& lock, const WaitHook& hook);
};

}  // namespace nm
