// PinnedThread: while alive, the calling thread runs only on the cores of a CPU device
// (a cluster such as cpu:big or cpu:0); its previous affinity is restored afterwards. A
// brick's worker pins itself this way, so that its thread 0 (the caller of its graph runs)
// joins the cluster its pool's workers are pinned to. No-op for other devices, for the
// default placement (nullptr) and where affinity cannot be set.
// Thread-safety: affects the constructing thread only; destroy it on the same thread.
#pragma once

#include <sched.h>

#include "backend/device.h"

namespace nm {

class PinnedThread {
 public:
  explicit PinnedThread(const Device* device);
  ~PinnedThread();
  PinnedThread(const PinnedThread&) = delete;
  PinnedThread& operator=(const PinnedThread&) = delete;
  bool pinned() const { return pinned_; }

 private:
  cpu_set_t saved_{};
  bool pinned_ = false;
};

}  // namespace nm
