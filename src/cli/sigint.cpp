#include "cli/sigint.h"

#include <atomic>

namespace nm::cli {
namespace {

// Written by the signal handler, read by the chat loop (lock-free, so async-signal-safe).
std::atomic<int> g_sigint{0};
static_assert(std::atomic<int>::is_always_lock_free);

void on_sigint(int) { g_sigint.store(1, std::memory_order_relaxed); }

}  // namespace

SigintFlag::SigintFlag() {
  g_sigint.store(0);
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a read waiting for a line returns EINTR
  sigaction(SIGINT, &sa, &previous_);
}

SigintFlag::~SigintFlag() { sigaction(SIGINT, &previous_, nullptr); }

bool SigintFlag::take() { return g_sigint.exchange(0) != 0; }

bool SigintFlag::raised() const { return g_sigint.load(std::memory_order_relaxed) != 0; }

}  // namespace nm::cli
