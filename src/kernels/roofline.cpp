#include "kernels/roofline.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

namespace nm {

double measure_read_bandwidth(ThreadPool& pool, size_t bytes) {
  const size_t n_words = bytes / sizeof(uint64_t);
  std::unique_ptr<uint64_t[]> buf(new (std::nothrow) uint64_t[n_words]);
  if (!buf) return 0;
  for (size_t i = 0; i < n_words; ++i) buf[i] = i;  // fault every page in before timing
  std::vector<uint64_t> sink((size_t)pool.size() * 8, 0);  // one cache line per thread
  double best = 0;
  for (int pass = 0; pass < 4; ++pass) {
    const auto t0 = std::chrono::steady_clock::now();
    pool.run([&](int ith, int nth) {
      const size_t lo = n_words * (size_t)ith / (size_t)nth, hi = n_words * (size_t)(ith + 1) / (size_t)nth;
      uint64_t a = 0, b = 0, c = 0, d = 0;  // independent sums: loads, not adds, are the limit
      size_t i = lo;
      for (; i + 4 <= hi; i += 4) {
        a += buf[i];
        b += buf[i + 1];
        c += buf[i + 2];
        d += buf[i + 3];
      }
      for (; i < hi; ++i) a += buf[i];
      sink[(size_t)ith * 8] = a + b + c + d;
    });
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (pass > 0) best = std::max(best, (double)(n_words * sizeof(uint64_t)) / s);  // pass 0 warms up
  }
  volatile uint64_t keep = 0;
  for (uint64_t v : sink) keep = keep + v;
  (void)keep;
  return best;
}

}  // namespace nm
