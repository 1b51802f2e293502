// Round-trip latency of ThreadPool::run() with an empty task (what a decode step pays
// per op), for back-to-back runs and after an idle gap (workers asleep).
// Usage: bench_thread_pool [max_threads=hardware] [iters=20000]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "core/thread_pool.h"

int main(int argc, char** argv) {
  const int hw = (int)std::max(1u, std::thread::hardware_concurrency());
  const int max_threads = argc > 1 ? std::atoi(argv[1]) : hw;
  const int iters = argc > 2 ? std::atoi(argv[2]) : 20000;
  using clock = std::chrono::steady_clock;
  std::printf("hardware threads: %d, iters: %d\n", hw, iters);
  for (int n = 1; n <= max_threads; n *= 2) {
    nm::ThreadPool pool(n);
    volatile int sink = 0;
    auto task = [&](int ith, int) { if (ith == 0) sink = sink + 1; };
    for (int i = 0; i < 1000; ++i) pool.run(task);  // warm up
    std::vector<double> us((size_t)iters);
    for (int i = 0; i < iters; ++i) {
      auto t0 = clock::now();
      pool.run(task);
      us[(size_t)i] = std::chrono::duration<double, std::micro>(clock::now() - t0).count();
    }
    std::sort(us.begin(), us.end());
    double cold = 0;
    const int n_cold = 20;
    for (int i = 0; i < n_cold; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      auto t0 = clock::now();
      pool.run(task);
      cold += std::chrono::duration<double, std::micro>(clock::now() - t0).count();
    }
    std::printf("threads=%2d  run() back-to-back: median %.2f us, p90 %.2f us, p99 %.2f us;"
                " after 5 ms idle: mean %.1f us\n",
                n, us[(size_t)iters / 2], us[(size_t)iters * 9 / 10], us[(size_t)iters * 99 / 100],
                cold / n_cold);
  }
  return 0;
}
