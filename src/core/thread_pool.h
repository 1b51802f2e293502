// ThreadPool: a fixed set of worker threads that run one parallel task at a time.
// run(fn) calls fn(ith, nth) once for every ith in [0, nth) -- the calling thread is
// ith 0 -- and returns when all have finished. Kernels split work by ith/nth in a way
// that does not change results (each output element is computed by exactly one thread,
// in a fixed order), so 1, 2 and N threads give bit-identical answers.
// Thread-safety: run() must not be called concurrently on one pool.
#pragma once

#include <functional>
#include <memory>
#include <vector>

namespace nm {

class ThreadPool {
 public:
  // n_threads >= 1. cpu_ids, when given, pins thread i to cpu_ids[i % size].
  explicit ThreadPool(int n_threads, std::vector<int> cpu_ids = {});
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }
  void run(const std::function<void(int ith, int nth)>& fn);

 private:
  struct Impl;
  int n_threads_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nm
