// First, simple implementation (mutex + condition variables). The spin barrier and
// pinning for decode-sized work replace it; the interface stays.
#include "core/thread_pool.h"

#include <condition_variable>
#include <mutex>
#include <thread>

namespace nm {

struct ThreadPool::Impl {
  std::mutex mu;
  std::condition_variable cv_work, cv_done;
  const std::function<void(int, int)>* fn = nullptr;
  uint64_t generation = 0;
  int pending = 0;
  bool stop = false;
  std::vector<std::thread> workers;
};

ThreadPool::ThreadPool(int n_threads, std::vector<int> cpu_ids)
    : n_threads_(n_threads < 1 ? 1 : n_threads), impl_(std::make_unique<Impl>()) {
  for (int i = 1; i < n_threads_; ++i) {
    impl_->workers.emplace_back([this, i] {
      Impl& s = *impl_;
      uint64_t seen = 0;
      for (;;) {
        std::unique_lock<std::mutex> lock(s.mu);
        s.cv_work.wait(lock, [&] { return s.stop || s.generation != seen; });
        if (s.stop) return;
        seen = s.generation;
        const auto* fn = s.fn;
        lock.unlock();
        (*fn)(i, n_threads_);
        lock.lock();
        if (--s.pending == 0) s.cv_done.notify_one();
      }
    });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv_work.notify_all();
  for (auto& t : impl_->workers) t.join();
}

void ThreadPool::run(const std::function<void(int ith, int nth)>& fn) {
  if (n_threads_ == 1) {
    fn(0, 1);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->fn = &fn;
    impl_->pending = n_threads_ - 1;
    impl_->generation++;
  }
  impl_->cv_work.notify_all();
  fn(0, n_threads_);
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->cv_done.wait(lock, [&] { return impl_->pending == 0; });
}

}  // namespace nm
