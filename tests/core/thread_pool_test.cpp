// ThreadPool behaviour: each ith runs exactly once per run, back-to-back runs, barrier
// phases, idle destruction, oversubscription (this machine may have fewer cores).
#include "core/thread_pool.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <thread>
#include <vector>
#include "../sanitizers.h"

namespace nm {
namespace {

TEST(ThreadPool, EveryIthRunsExactlyOncePerRun) {
  for (int n : {1, 2, 3, 4, 7}) {
    ThreadPool pool(n);
    ASSERT_EQ(pool.size(), n);
    std::vector<std::atomic<int>> hits((size_t)n);
    std::atomic<int> bad_nth{0};
    for (int r = 0; r < 50; ++r) {
      pool.run([&](int ith, int nth) {
        if (nth != n) bad_nth++;
        hits[(size_t)ith]++;
      });
      for (int i = 0; i < n; ++i) ASSERT_EQ(hits[(size_t)i].load(), r + 1) << "n=" << n << " ith=" << i;
    }
    EXPECT_EQ(bad_nth.load(), 0);
  }
}

TEST(ThreadPool, CallerIsThreadZero) {
  ThreadPool pool(3);
  const auto me = std::this_thread::get_id();
  std::thread::id seen0;
  std::atomic<int> others_on_caller{0};
  pool.run([&](int ith, int) {
    if (ith == 0) seen0 = std::this_thread::get_id();
    else if (std::this_thread::get_id() == me) others_on_caller++;
  });
  EXPECT_EQ(seen0, me);
  EXPECT_EQ(others_on_caller.load(), 0);
}

TEST(ThreadPool, ThousandsOfBackToBackRunsSeeAllWrites) {
  // Each run writes a slot per thread; the caller checks them after run() returns,
  // which fails if run() returned before a worker finished (or a write was not visible).
  for (int n : {2, 4}) {
    ThreadPool pool(n);
    std::vector<int64_t> slot((size_t)n, 0);
    for (int64_t r = 1; r <= 5000; ++r) {
      pool.run([&](int ith, int) { slot[(size_t)ith] = r * 10 + ith; });
      for (int i = 0; i < n; ++i) ASSERT_EQ(slot[(size_t)i], r * 10 + i) << "run " << r;
    }
  }
}

TEST(ThreadPool, BarrierSeparatesPhases) {
  // Phase 1: thread i writes a[i]. Phase 2: thread i reads all of a. Phase 3 overwrites
  // a after a second barrier; a missing barrier shows up as a wrong sum.
  for (int n : {1, 2, 3, 5}) {
    ThreadPool pool(n);
    std::vector<int64_t> a((size_t)n), sums((size_t)n), sums2((size_t)n);
    for (int r = 0; r < 300; ++r) {
      pool.run([&](int ith, int nth) {
        a[(size_t)ith] = r + ith;
        pool.barrier();
        int64_t s = 0;
        for (int i = 0; i < nth; ++i) s += a[(size_t)i];
        sums[(size_t)ith] = s;
        pool.barrier();
        a[(size_t)ith] = 2 * (r + ith);
        pool.barrier();
        s = 0;
        for (int i = 0; i < nth; ++i) s += a[(size_t)i];
        sums2[(size_t)ith] = s;
      });
      const int64_t want = (int64_t)n * r + (int64_t)n * (n - 1) / 2;
      for (int i = 0; i < n; ++i) {
        ASSERT_EQ(sums[(size_t)i], want) << "n=" << n << " r=" << r;
        ASSERT_EQ(sums2[(size_t)i], 2 * want) << "n=" << n << " r=" << r;
      }
    }
  }
}

TEST(ThreadPool, DestroyWhileIdleAndAfterSleeping) {
  { ThreadPool pool(4); }  // never ran
  {
    ThreadPool pool(3);
    std::atomic<int> count{0};
    pool.run([&](int, int) { count++; });
    // Long enough for the workers to pass the spin budget and sleep on the futex.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    pool.run([&](int, int) { count++; });  // wakes sleepers
    EXPECT_EQ(count.load(), 6);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }  // destroyed while asleep
}

TEST(ThreadPool, SeveralPoolsTakeTurnsAndSleepBetween) {
  // The server's pattern: one thread drives several pools (one per slot) in turn, and
  // pauses long enough now and then for their workers to fall asleep on the futex; two
  // such drivers run at once. Every run must see every worker's write (a lost wake-up
  // would hang here, and ctest's timeout fails it).
  auto drive = [](int n_pools, int n_threads, unsigned seed, std::atomic<int>* bad) {
    std::vector<std::unique_ptr<ThreadPool>> pools;
    for (int i = 0; i < n_pools; ++i) pools.push_back(std::make_unique<ThreadPool>(n_threads));
    std::vector<int64_t> slot((size_t)n_threads, 0);
    unsigned r = seed;
    for (int64_t round = 1; round <= 150; ++round) {
      for (auto& pool : pools) {
        r = r * 1103515245u + 12345u;
        for (unsigned k = 0; k < 1 + (r >> 16) % 4; ++k) {
          pool->run([&](int ith, int) { slot[(size_t)ith] = round * 8 + ith; });
          for (int i = 0; i < n_threads; ++i) *bad += slot[(size_t)i] != round * 8 + i;
        }
        if ((r >> 20) % 8 == 0) std::this_thread::sleep_for(std::chrono::microseconds(400));
      }
    }
  };
  std::atomic<int> bad{0};
  std::thread other(drive, 2, 3, 7u, &bad);
  drive(4, 2, 1u, &bad);
  other.join();
  EXPECT_EQ(bad.load(), 0);
}

// run_stealable: items taken from a shared counter are each done exactly once whoever
// takes them, a worker joins a run at most once (late workers skip it), and run() right
// after (every worker must take part) is not disturbed by workers that skipped. Pauses
// let workers fall asleep so that some join late and some not at all.
TEST(ThreadPool, StealableRunsDoEveryItemOnceAndMixWithRun) {
  for (int n : {2, 3, 4}) {
    ThreadPool pool(n);
    constexpr int kItems = 257;
    std::vector<std::atomic<int>> done(kItems);
    std::atomic<int> bad{0};
    std::vector<std::atomic<int>> calls((size_t)n);
    for (int r = 0; r < 600; ++r) {
      for (auto& d : done) d.store(0, std::memory_order_relaxed);
      for (auto& c : calls) c.store(0, std::memory_order_relaxed);
      std::atomic<int> next{0};
      pool.run_stealable([&](int ith, int nth) {
        if (nth != n) bad++;
        calls[(size_t)ith]++;
        for (int i = next.fetch_add(1); i < kItems; i = next.fetch_add(1)) done[(size_t)i]++;
      });
      for (int i = 0; i < kItems; ++i) if (done[(size_t)i].load() != 1) bad++;
      if (calls[0].load() != 1) bad++;
      for (int t = 1; t < n; ++t) if (calls[(size_t)t].load() > 1) bad++;
      std::vector<int> seen((size_t)n, 0);
      pool.run([&](int ith, int) { seen[(size_t)ith]++; });
      for (int t = 0; t < n; ++t) if (seen[(size_t)t] != 1) bad++;
      if (r % 100 == 99) std::this_thread::sleep_for(std::chrono::milliseconds(3));
    }
    EXPECT_EQ(bad.load(), 0) << "threads " << n;
  }
}

TEST(ThreadPool, SingleThreadRunsInline) {
  ThreadPool pool(1);
  int calls = 0;
  pool.run([&](int ith, int nth) {
    EXPECT_EQ(ith, 0);
    EXPECT_EQ(nth, 1);
    pool.barrier();  // no-op, must not hang
    calls++;
  });
  EXPECT_EQ(calls, 1);
  ThreadPool clamped(0);
  EXPECT_EQ(clamped.size(), 1);
}

TEST(ThreadPool, PinningIsBestEffort) {
  // Valid, invalid and out-of-range cpu ids: no crash, all threads still run.
  ThreadPool pool(4, {0, 1, 100000, -3});
  std::atomic<int> count{0};
  for (int r = 0; r < 20; ++r) pool.run([&](int, int) { count++; });
  EXPECT_EQ(count.load(), 80);
}

TEST(ThreadPool, ThreadStartFailureIsAnErrorNotAnAbort) {
#if NM_TEST_ASAN
  GTEST_SKIP() << "ASan reserves its shadow memory up front; an address-space limit stops ASan itself";
#else
  // In a child process (the limit must not reach the test runner): an address-space limit
  // a little above what the process maps now leaves no room for 64 thread stacks (8 MiB
  // each), so starting the pool fails part-way. Before, the started std::threads were
  // destroyed joinable and the process died in std::terminate (rc 134).
  constexpr int kChildReportedError = 0, kChildLimitNotHonoured = 3, kChildWrongMessage = 4;  // its exit codes
  std::fflush(nullptr);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    long pages = 0;
    std::ifstream("/proc/self/statm") >> pages;
    const rlim_t limit = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)48 << 20);
    const rlimit rl{limit, limit};
    if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(kChildLimitNotHonoured);
    auto pool = ThreadPool::create(64);
    if (pool.ok()) _exit(kChildLimitNotHonoured);  // e.g. qemu-user, which ignores RLIMIT_AS
    const std::string& msg = pool.status().message();
    if (pool.status().code() != ErrorCode::out_of_memory || msg.find("cannot start thread") == std::string::npos ||
        msg.find("of 64") == std::string::npos) {
      _exit(kChildWrongMessage);
    }
    _exit(kChildReportedError);
  }
  int wstatus = 0;
  ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFEXITED(wstatus)) << "the child died of signal " << (WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0);
  if (WEXITSTATUS(wstatus) == kChildLimitNotHonoured) GTEST_SKIP() << "RLIMIT_AS is not honoured here";
  EXPECT_EQ(WEXITSTATUS(wstatus), kChildReportedError);
#endif
}

TEST(ThreadPool, UsableCpuCountIsPositiveAndAtMostTheMachines) {
  EXPECT_GE(usable_cpu_count(), 1);
  const unsigned hw = std::thread::hardware_concurrency();
  if (hw > 0) {
    EXPECT_LE(usable_cpu_count(), (int)hw);
  }
}

}  // namespace
}  // namespace nm
