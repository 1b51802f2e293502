// Spin-then-sleep thread pool: generation counter to start a run, arrival counter to
// finish it, the same pattern (sense by generation) for barrier().
#include "core/thread_pool.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <system_error>
#include <thread>

#if defined(__linux__)
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace nm {
namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  asm volatile("yield" ::: "memory");
#endif
}

// How long a waiter burns CPU before sleeping: long enough to cover the gap between
// two ops of a decode step, short enough that an idle pool goes quiet at once.
constexpr int kPauseSpins = 2000;
constexpr auto kSpinBudget = std::chrono::microseconds(200);

// Sleeps while word == old, and wakes every sleeper on word: the futex system calls
// themselves on Linux. std::atomic::wait/notify_all do the same through libstdc++'s
// process-wide table of waiter counts, which the pool does not need (it counts its own
// sleepers). A hang with four pools was seen once in the server's load test with
// atomic::wait; it was not reproduced since (7 load-test runs with atomic::wait, and a
// stress of 1-8 pools from 1-4 threads), so this is kept as the simpler path, not as a
// proven fix.
void sleep_while(const std::atomic<uint32_t>& word, uint32_t old) {
#if defined(__linux__)
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
  syscall(SYS_futex, reinterpret_cast<const uint32_t*>(&word), FUTEX_WAIT_PRIVATE, old, nullptr, nullptr, 0);
#else
  word.wait(old, std::memory_order_seq_cst);
#endif
}

// sleep_while with a time limit (a guest's wait for a run to help with).
void sleep_while_for(const std::atomic<uint32_t>& word, uint32_t old, int64_t timeout_us) {
#if defined(__linux__)
  timespec ts{(time_t)(timeout_us / 1000000), (long)(timeout_us % 1000000) * 1000};
  syscall(SYS_futex, reinterpret_cast<const uint32_t*>(&word), FUTEX_WAIT_PRIVATE, old, &ts, nullptr, 0);
#else
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(timeout_us);
  while (word.load(std::memory_order_acquire) == old && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
#endif
}

void wake_all(std::atomic<uint32_t>& word) {
#if defined(__linux__)
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr, nullptr, 0);
#else
  word.notify_all();
#endif
}

// Waits until word != old. Spins, then yields, then sleeps on the futex. `sleepers`
// counts threads that may be asleep on `word`, so the waker skips the syscall when 0.
void wait_change(const std::atomic<uint32_t>& word, uint32_t old, std::atomic<int>& sleepers) {
  for (int i = 0; i < kPauseSpins; ++i) {
    if (word.load(std::memory_order_acquire) != old) return;
    cpu_relax();
  }
  const auto deadline = std::chrono::steady_clock::now() + kSpinBudget;
  while (std::chrono::steady_clock::now() < deadline) {
    for (int i = 0; i < 16; ++i) {
      if (word.load(std::memory_order_acquire) != old) return;
      std::this_thread::yield();
    }
  }
  for (;;) {
    // seq_cst increment + seq_cst re-check pairs with the waker's seq_cst store then
    // seq_cst load of `sleepers`: either we see the new value or the waker sees us.
    sleepers.fetch_add(1, std::memory_order_seq_cst);
    if (word.load(std::memory_order_seq_cst) == old) sleep_while(word, old);
    sleepers.fetch_sub(1, std::memory_order_relaxed);
    if (word.load(std::memory_order_acquire) != old) return;
  }
}

void wake(std::atomic<uint32_t>& word, std::atomic<int>& sleepers) {
  if (sleepers.load(std::memory_order_seq_cst) > 0) wake_all(word);
}

void pin_to_cpu(int cpu) {
#if defined(__linux__)
  if (cpu < 0 || cpu >= CPU_SETSIZE) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  (void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);  // best effort
#else
  (void)cpu;
#endif
}

}  // namespace

struct ThreadPool::Impl {
  // Each hot word on its own cache line so spinning readers do not slow the writers.
  alignas(64) std::atomic<uint32_t> generation{0};  // bumped to start a run (or stop)
  alignas(64) std::atomic<int> gen_sleepers{0};
  alignas(64) std::atomic<uint32_t> n_done{0};      // workers finished in this run
  alignas(64) std::atomic<int> done_sleepers{0};
  alignas(64) std::atomic<uint32_t> barrier_arrived{0};
  alignas(64) std::atomic<uint32_t> barrier_gen{0};
  alignas(64) std::atomic<int> barrier_sleepers{0};
  // Who takes part in the current run: its generation in the high 32 bits, kClosed, and
  // the number of workers that joined it. A worker joins (CAS) before it reads fn; a
  // run_stealable() caller closes the run once its own fn returns and then waits only
  // for the workers that had joined, so a late worker skips the run.
  // kStealable marks a run_stealable() run, the only kind a guest (help()) may join.
  alignas(64) std::atomic<uint64_t> entry{0};
  static constexpr uint64_t kClosed = uint64_t{1} << 31, kStealable = uint64_t{1} << 30,
                            kJoinedMask = kStealable - 1;
  std::atomic<bool> guests{false};      // accept_guests(): 1-thread pools publish stealable runs
  std::atomic<int> next_guest{0};       // guests' ith, above the pool's own
  std::atomic<uint32_t> interrupts{0};  // interrupt_guests() calls: a waiting guest returns
  // Guests sleep on this word: bumped by every stealable run published and every interrupt.
  alignas(64) std::atomic<uint32_t> guest_seq{0};
  std::atomic<int> guest_sleepers{0};
  const std::function<void(int, int)>* fn = nullptr;  // written before generation bump
  // Atomic: a worker woken for a run reads it while the destructor may be setting it.
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
};

ThreadPool::ThreadPool(int n_threads, std::vector<int> cpu_ids)
    : n_threads_(n_threads < 1 ? 1 : n_threads), impl_(std::make_unique<Impl>()) {
  impl_->workers.reserve((size_t)n_threads_ - 1);
  for (int i = 1; i < n_threads_; ++i) {
    const int cpu = cpu_ids.empty() ? -1 : cpu_ids[(size_t)i % cpu_ids.size()];
    try {
      impl_->workers.emplace_back([this, i, cpu] {
        if (cpu >= 0) pin_to_cpu(cpu);
        Impl& s = *impl_;
        uint32_t seen = 0;
        for (;;) {
          wait_change(s.generation, seen, s.gen_sleepers);
          seen = s.generation.load(std::memory_order_acquire);
          if (s.stop.load(std::memory_order_acquire)) return;
          uint64_t e = s.entry.load(std::memory_order_acquire);
          bool joined = false;
          while ((uint32_t)(e >> 32) == seen && !(e & Impl::kClosed)) {
            if (s.entry.compare_exchange_weak(e, e + 1, std::memory_order_acq_rel)) {
              joined = true;
              break;
            }
          }
          if (!joined) continue;  // closed without us, or already followed by a newer run
          (*s.fn)(i, n_threads_);
          // release: the caller sees everything this task wrote once it sees the count.
          s.n_done.fetch_add(1, std::memory_order_acq_rel);
          wake(s.n_done, s.done_sleepers);
        }
      });
    } catch (const std::system_error& e) {
      // A joinable std::thread destroyed by unwinding would call std::terminate: stop and
      // join the workers already running before reporting.
      stop_workers();
      throw ThreadStartError("cannot start thread " + std::to_string(i + 1) + " of " + std::to_string(n_threads_) +
                             " (" + e.what() + "): use fewer threads");
    }
  }
}

Result<std::unique_ptr<ThreadPool>> ThreadPool::create(int n_threads, std::vector<int> cpu_ids) {
  try {
    return std::make_unique<ThreadPool>(n_threads, std::move(cpu_ids));
  } catch (const ThreadStartError& e) {
    return error(ErrorCode::out_of_memory, e.what());
  }
}

void ThreadPool::stop_workers() {
  Impl& s = *impl_;
  s.stop.store(true, std::memory_order_release);
  s.generation.fetch_add(1, std::memory_order_seq_cst);
  wake_all(s.generation);  // unconditional: shutdown is rare, keep it simple
  for (auto& t : s.workers) t.join();
  s.workers.clear();
}

ThreadPool::~ThreadPool() { stop_workers(); }

void ThreadPool::run(const std::function<void(int ith, int nth)>& fn) { run_task(fn, false); }

void ThreadPool::run_stealable(const std::function<void(int ith, int nth)>& fn) { run_task(fn, true); }

void ThreadPool::run_task(const std::function<void(int ith, int nth)>& fn, bool stealable) {
  Impl& s = *impl_;
  if (n_threads_ == 1 && !(stealable && s.guests.load(std::memory_order_relaxed))) {
    fn(0, 1);
    return;
  }
  s.fn = &fn;
  s.n_done.store(0, std::memory_order_relaxed);
  const uint32_t gen = s.generation.load(std::memory_order_relaxed) + 1;
  // open, nobody joined yet
  s.entry.store((uint64_t)gen << 32 | (stealable ? Impl::kStealable : 0), std::memory_order_relaxed);
  s.generation.fetch_add(1, std::memory_order_seq_cst);  // publishes fn, n_done and entry
  wake(s.generation, s.gen_sleepers);
  if (stealable) {  // and to guests (help())
    s.guest_seq.fetch_add(1, std::memory_order_seq_cst);
    wake(s.guest_seq, s.guest_sleepers);
  }
  fn(0, n_threads_);
  const uint32_t want = stealable
      ? (uint32_t)(s.entry.fetch_or(Impl::kClosed, std::memory_order_acq_rel) & Impl::kJoinedMask)
      : (uint32_t)n_threads_ - 1;  // every worker joins a run that is never closed
  for (uint32_t done = s.n_done.load(std::memory_order_acquire); done != want;
       done = s.n_done.load(std::memory_order_acquire)) {
    wait_change(s.n_done, done, s.done_sleepers);
  }
}

void ThreadPool::accept_guests(bool accept) { impl_->guests.store(accept, std::memory_order_relaxed); }

void ThreadPool::interrupt_guests() {
  Impl& s = *impl_;
  s.interrupts.fetch_add(1, std::memory_order_seq_cst);
  s.guest_seq.fetch_add(1, std::memory_order_seq_cst);
  wake(s.guest_seq, s.guest_sleepers);
}

uint32_t ThreadPool::interrupt_count() const { return impl_->interrupts.load(std::memory_order_seq_cst); }

bool ThreadPool::help(int64_t timeout_us, int64_t* worked_ns, uint32_t* interrupts_seen) {
  Impl& s = *impl_;
  if (worked_ns) *worked_ns = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(timeout_us);
  const uint32_t interrupts = interrupts_seen ? *interrupts_seen : s.interrupts.load(std::memory_order_seq_cst);
  if (interrupts_seen) *interrupts_seen = s.interrupts.load(std::memory_order_seq_cst);
  // The run this thread last helped with: a run is joined once per guest (joining it again
  // after its work is gone would spin until the caller closes it).
  thread_local const Impl* last_pool = nullptr;
  thread_local uint32_t last_gen = 0;
  for (;;) {
    // Read before looking at the run: a stealable run published or an interrupt after this
    // bumps guest_seq, so the sleep below does not miss it.
    const uint32_t seq = s.guest_seq.load(std::memory_order_seq_cst);
    if (s.interrupts.load(std::memory_order_seq_cst) != interrupts) {
      if (interrupts_seen) *interrupts_seen = s.interrupts.load(std::memory_order_seq_cst);
      return false;
    }
    // The entry of generation `gen` was stored before generation became gen (a newer one
    // carries a newer generation number, and is not joined by mistake).
    const uint32_t gen = s.generation.load(std::memory_order_acquire);
    uint64_t e = s.entry.load(std::memory_order_acquire);
    const bool helped_already = last_pool == &s && last_gen == gen;
    while (!helped_already && (uint32_t)(e >> 32) == gen && (e & Impl::kStealable) && !(e & Impl::kClosed)) {
      if (s.entry.compare_exchange_weak(e, e + 1, std::memory_order_acq_rel)) {
        last_pool = &s;
        last_gen = gen;
        const int ith = n_threads_ + s.next_guest.fetch_add(1, std::memory_order_relaxed) % 1024;
        const auto t0 = std::chrono::steady_clock::now();
        (*s.fn)(ith, n_threads_);
        if (worked_ns) *worked_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
        s.n_done.fetch_add(1, std::memory_order_acq_rel);
        wake(s.n_done, s.done_sleepers);
        return true;
      }
    }
    const auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    s.guest_sleepers.fetch_add(1, std::memory_order_seq_cst);
    if (s.guest_seq.load(std::memory_order_seq_cst) == seq) sleep_while_for(s.guest_seq, seq, left.count());
    s.guest_sleepers.fetch_sub(1, std::memory_order_relaxed);
  }
}

void ThreadPool::barrier() {
  if (n_threads_ == 1) return;
  Impl& s = *impl_;
  const uint32_t gen = s.barrier_gen.load(std::memory_order_acquire);
  if (s.barrier_arrived.fetch_add(1, std::memory_order_acq_rel) + 1 == (uint32_t)n_threads_) {
    s.barrier_arrived.store(0, std::memory_order_relaxed);
    s.barrier_gen.fetch_add(1, std::memory_order_seq_cst);  // releases the others
    wake(s.barrier_gen, s.barrier_sleepers);
    return;
  }
  wait_change(s.barrier_gen, gen, s.barrier_sleepers);
}

int default_thread_count() {
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : (int)hw;
}

int usable_cpu_count() {
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
#endif
  return default_thread_count();
}

}  // namespace nm
