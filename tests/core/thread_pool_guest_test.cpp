// ThreadPool guests (ThreadPool::help): a thread outside the pool — a pipelined stream's
// worker for another CPU cluster, waiting on the ring — takes part in the pool's stealable
// runs. In the ThreadSanitizer build too (tests/CMakeLists.txt).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "core/thread_pool.h"

namespace nm {
namespace {

// A guest (ThreadPool::help: a pipeline's idle worker for another CPU cluster) takes part
// in stealable runs only, with an ith above the pool's own and the pool's nth; every item
// is still done exactly once, and the run's caller waits for a guest that joined. A
// 1-thread pool publishes its stealable runs once it accepts guests.
TEST(ThreadPool, GuestsHelpWithStealableRunsOnly) {
  for (int n : {1, 2}) {
    ThreadPool pool(n);
    pool.accept_guests(true);
    std::atomic<bool> stop{false};
    std::atomic<int> guest_runs{0};
    std::thread guest([&] {
      while (!stop.load()) {
        if (pool.help(2000)) guest_runs++;
      }
    });
    constexpr int kItems = 64;
    std::atomic<int> bad{0}, guest_items{0};
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    int runs = 0;
    // Until the guest has helped with a few runs (it joins when the scheduler runs it).
    for (; runs < 200 || (guest_runs.load() < 3 && std::chrono::steady_clock::now() < deadline); ++runs) {
      std::vector<std::atomic<int>> done(kItems);
      std::atomic<int> next{0};
      pool.run_stealable([&](int ith, int nth) {
        if (nth != n) bad++;
        for (int i = next.fetch_add(1); i < kItems; i = next.fetch_add(1)) {
          volatile double sink = 0;  // an item of a few microseconds, so that a guest can take some
          for (int j = 0; j < 2000; ++j) sink = sink + j;
          done[(size_t)i]++;
          if (ith >= nth) guest_items++;
        }
      });
      for (int i = 0; i < kItems; ++i) if (done[(size_t)i].load() != 1) bad++;
      pool.run([&](int ith, int nth) {  // a guest never joins a run() task: its parts are fixed by ith
        if (ith >= nth || nth != n) bad++;
      });
    }
    stop.store(true);
    guest.join();
    std::printf("threads %d: %d runs, the guest helped with %d (%d items)\n", n, runs, guest_runs.load(), guest_items.load());
    EXPECT_EQ(bad.load(), 0) << "threads " << n;
    EXPECT_GE(guest_runs.load(), 3) << "threads " << n << ": the guest never got a run in 30 s";
  }
}

TEST(ThreadPool, HelpGivesUpWhenNoRunComes) {
  ThreadPool one(1);  // not accepting guests: runs inline, never published
  std::atomic<bool> helped{false};
  std::thread guest([&] { helped = one.help(50000); });
  for (int r = 0; r < 100; ++r) one.run_stealable([](int, int) {});
  guest.join();
  EXPECT_FALSE(helped.load());
  ThreadPool idle(2);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(idle.help(20000));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(19));
}

// interrupt_guests() ends a guest's wait at once (the token ring has what the guest's own
// worker waits for), and an interrupt that came between two help() calls is not missed.
TEST(ThreadPool, AnInterruptEndsAGuestsWait) {
  ThreadPool pool(2);
  std::atomic<bool> returned{false};
  const auto t0 = std::chrono::steady_clock::now();
  std::thread guest([&] {
    uint32_t seen = pool.interrupt_count();
    EXPECT_FALSE(pool.help(20'000'000, nullptr, &seen));  // 20 s: only the interrupt ends it early
    returned = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(returned.load());
  pool.interrupt_guests();
  guest.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  // Between two calls: the next call returns at once.
  uint32_t seen = pool.interrupt_count();
  pool.interrupt_guests();
  const auto t1 = std::chrono::steady_clock::now();
  EXPECT_FALSE(pool.help(20'000'000, nullptr, &seen));
  EXPECT_LT(std::chrono::steady_clock::now() - t1, std::chrono::seconds(10));
  EXPECT_EQ(seen, pool.interrupt_count());
}

}  // namespace
}  // namespace nm
