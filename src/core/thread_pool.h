// ThreadPool: a fixed set of worker threads that run one parallel task at a time.
// run(fn) calls fn(ith, nth) once for every ith in [0, nth) -- the calling thread is
// ith 0 -- and returns when all have finished. Kernels split work by ith/nth in a way
// that does not change results (each output element is computed by exactly one thread,
// in a fixed order), so 1, 2 and N threads give bit-identical answers.
//
// Built for decode-sized work (tasks of a few microseconds): a run is published by
// bumping a generation counter and finished by an atomic arrival counter. Waiting
// threads spin (cpu pause, then sched_yield) for a short budget and then sleep on a
// futex (the system call on Linux, std::atomic::wait elsewhere), so an idle pool uses
// no CPU. More threads than cores work (the yield/sleep phases hand the core over),
// just more slowly.
// Thread-safety: run() must not be called concurrently on one pool, nor from inside a
// task. barrier() may only be called from inside a task, by all nth threads.
// A worker the system cannot start (thread limit, address space) is an error the caller
// sees (create() returns it; the constructor throws ThreadStartError), never an abort.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/status.h"

namespace nm {

// Thrown by ThreadPool's constructor when a worker thread cannot be started; the threads
// already started are stopped and joined first. what() says which thread and why.
class ThreadStartError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ThreadPool {
 public:
  // n_threads >= 1 (smaller values mean 1). cpu_ids, when given, pins worker thread i
  // (i >= 1) to cpu_ids[i % size] with pthread_setaffinity_np; a failed pin is ignored.
  // Thread 0 is the caller and keeps the affinity the application gave it.
  // Throws ThreadStartError when a worker cannot be started (see create()).
  explicit ThreadPool(int n_threads, std::vector<int> cpu_ids = {});
  // The same, with a failure to start a worker as an out_of_memory Status.
  static Result<std::unique_ptr<ThreadPool>> create(int n_threads, std::vector<int> cpu_ids = {});
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }
  // Pass a lambda capturing at most two pointers (e.g. [&ctx] or [this]): std::function
  // then stores it inline and run() allocates nothing.
  void run(const std::function<void(int ith, int nth)>& fn);

  // run() for a task whose parts any thread may do: fn takes its work from shared
  // counters, so that fn(0, nth) alone finishes everything the workers have not taken.
  // The caller then waits only for the workers that had started by the time its own
  // fn(0, nth) returned; a worker that starts later (asleep, or descheduled on a loaded
  // machine) skips the run. A 2-thread decode on a busy 2-core machine otherwise waits
  // at every matmul for a worker the scheduler has not run yet. No barrier() inside.
  void run_stealable(const std::function<void(int ith, int nth)>& fn);

  // Inside a run() task only: returns once all nth threads have called it, so a kernel
  // can do phase 1 (e.g. quantise the activations, split by ith), barrier(), then
  // phase 2 that reads everything phase 1 wrote. Every thread must call it the same
  // number of times in one task, or the task deadlocks. Memory written before the
  // barrier by any thread is visible after it to all (acquire/release).
  void barrier();

  // Guests: a thread outside the pool that has nothing to do for a while (a pipeline's
  // worker for another CPU cluster, waiting for its next frame) lends a hand with the
  // pool's stealable runs. help() waits up to `timeout_us` for a stealable run, takes part
  // in it (fn(ith, nth) with ith >= size() and the pool's nth: stealable tasks take their
  // work from shared counters, so who does which part does not change the results), and
  // returns true; false when none came. The run's caller waits for a guest that joined,
  // as for its own workers. A 1-thread pool runs tasks inline unless guests are accepted
  // (accept_guests(true): its stealable runs are then published for them too).
  // `worked_ns`, when given, receives the time spent in fn (0 when none came).
  // `interrupts_seen`, when given, is the caller's count of interrupt_guests() calls seen so
  // far: help() returns false at once if there were more (none missed between two calls),
  // and stores the count it saw. Without it, only interrupts during this call count.
  bool help(int64_t timeout_us, int64_t* worked_ns = nullptr, uint32_t* interrupts_seen = nullptr);
  void accept_guests(bool accept);
  // Makes every guest waiting in help() return false now (the guest's own work arrived:
  // e.g. the token ring has the slot it waits for), instead of at its timeout.
  void interrupt_guests();
  uint32_t interrupt_count() const;

 private:
  // Stops and joins every started worker (destructor, or a failed constructor).
  void stop_workers();
  void run_task(const std::function<void(int ith, int nth)>& fn, bool stealable);

  struct Impl;
  int n_threads_;
  std::unique_ptr<Impl> impl_;
};

// Threads to use when the caller asks for "the default": one per core the OS reports (1 if
// it reports none).
int default_thread_count();

// CPUs this process may run on (its affinity mask; hardware_concurrency where that is
// unavailable; at least 1). More threads than this only slow a compute pool down.
int usable_cpu_count();

}  // namespace nm
