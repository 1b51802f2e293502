#include "kernels/roofline.h"

#include "core/virtual_buffer.h"
#include "kernels/fma_loops.h"

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
  // Huge pages, as the packed weights have (VirtualBuffer::reserve_huge): the limit is
  // what the machine can stream, not what 4 KiB pages' TLB misses leave of it.
  auto mem = VirtualBuffer::reserve_huge(n_words * sizeof(uint64_t));
  if (!mem.ok() || !mem->data()) return 0;
  uint64_t* buf = static_cast<uint64_t*>(mem->data());
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

double measure_fma_peak(ThreadPool& pool, Isa isa) {
  float (*loop)(long) = nullptr;
  int lanes = 0;
  switch (isa) {
#if defined(__x86_64__)
    case Isa::avx2: loop = fma_loop_avx2; lanes = 8; break;
    case Isa::avx512: case Isa::avx512_vnni: loop = fma_loop_avx512; lanes = 16; break;
#endif
#if defined(__aarch64__)
    case Isa::neon: case Isa::neon_dotprod: loop = fma_loop_neon; lanes = 4; break;
#endif
    default: return 0;
  }
  const long iters = 10000000;
  std::vector<float> sink((size_t)pool.size() * 16);
  double best = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    pool.run([&](int ith, int) { sink[(size_t)ith * 16] = loop(iters); });
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  volatile float keep = 0;
  for (float v : sink) keep = keep + v;
  (void)keep;
  return (double)iters * kFmaChains * lanes * 2 * pool.size() / best;
}

}  // namespace nm
