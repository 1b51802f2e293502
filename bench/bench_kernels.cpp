// Kernel benchmark: measures this machine's read bandwidth and FMA peak, then the matmul
// kernels against them (matrix-vector vs bandwidth, batched vs FMA peak). One line per
// measurement; types marked "p" use the packed (row-interleaved) layout CPU graphs use.
// Flags: --threads N (default 2), --isa NAME (default best), --quick, --types q4_0,q5_1,...
// (default: all the weight types listed below), --peaks-only (the three machine limits and
// nothing else: what bench/compare_llama_cpp.py divides both engines' speeds by),
// --in-cache (matrix-vector products of the packed layouts on one thread with W in L2,
// timed in process CPU time: the kernel's compute ceiling, which neither memory nor other
// processes on a shared machine move; the decode kernels must exceed the bandwidth share of
// one core by a margin, or decode is compute-bound).
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "core/virtual_buffer.h"
#include "kernels/matmul.h"
#include "kernels/matmul_packed.h"
#include "kernels/roofline.h"

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Best of `reps` runs of fn (seconds).
template <class F>
double best_time(int reps, F&& fn) {
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    const double t0 = now_s();
    fn();
    best = std::min(best, now_s() - t0);
  }
  return best;
}

#if defined(__x86_64__)
// vpdpbusd throughput: 64 int8 multiply-adds per instruction, 12 independent chains.
__attribute__((target("avx512f,avx512vnni"))) int int8_loop_vnni(long iters) {
  int init[12][16], av[16], bv[16];
  for (int l = 0; l < 16; ++l) {
    for (int j = 0; j < 12; ++j) init[j][l] = j;
    av[l] = 0x01010101;
    bv[l] = 0x01fe01fe;
  }
  __m512i acc[12];
  for (int j = 0; j < 12; ++j) acc[j] = _mm512_loadu_si512(init[j]);
  const __m512i a = _mm512_loadu_si512(av), b = _mm512_loadu_si512(bv);
  for (long i = 0; i < iters; ++i)
    for (int j = 0; j < 12; ++j) acc[j] = _mm512_dpbusd_epi32(acc[j], a, b);
  __m512i s = acc[0];
  for (int j = 1; j < 12; ++j) s = _mm512_add_epi32(s, acc[j]);
  _mm512_storeu_si512(av, s);
  return av[0] + av[15];
}

// vpmaddubsw throughput (AVX2's int8 dot: 32 multiply-adds per instruction, pairs summed in
// int16), 12 independent chains, each result the next one's unsigned operand. In asm: GCC
// put register copies and spills into the intrinsics loop and measured half the rate.
__attribute__((target("avx2"))) int int8_loop_avx2(long iters) {
  int out[8];
  __asm__ volatile(
      "vpcmpeqb %%ymm15, %%ymm15, %%ymm15\n"
      "vpabsb %%ymm15, %%ymm15\n"
#define NM_ZERO(r) "vpxor %%ymm" #r ", %%ymm" #r ", %%ymm" #r "\n"
      NM_ZERO(0) NM_ZERO(1) NM_ZERO(2) NM_ZERO(3) NM_ZERO(4) NM_ZERO(5) NM_ZERO(6) NM_ZERO(7) NM_ZERO(8)
      NM_ZERO(9) NM_ZERO(10) NM_ZERO(11)
      "1:\n"
#define NM_DOT(r) "vpmaddubsw %%ymm15, %%ymm" #r ", %%ymm" #r "\n"
      NM_DOT(0) NM_DOT(1) NM_DOT(2) NM_DOT(3) NM_DOT(4) NM_DOT(5) NM_DOT(6) NM_DOT(7) NM_DOT(8) NM_DOT(9)
      NM_DOT(10) NM_DOT(11)
#undef NM_DOT
#undef NM_ZERO
      "dec %[n]\n"
      "jnz 1b\n"
      "vpaddw %%ymm1, %%ymm0, %%ymm0\n"
      "vmovdqu %%ymm0, %[out]\n"
      : [n] "+r"(iters), [out] "=m"(out)
      :
      : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm15",
        "cc");
  return out[0] + out[7];
}
#endif

// G int8 "flops" (2 per multiply-add) per second of the ISA's int8 dot instruction (vpdpbusd
// with VNNI, vpmaddubsw on AVX2) on every thread; 0 elsewhere. name: the instruction.
double int8_peak(nm::ThreadPool& pool, nm::Isa isa, const char** name) {
#if defined(__x86_64__)
  const bool vnni = isa == nm::Isa::avx512_vnni;
  if (!vnni && isa != nm::Isa::avx2) return 0;
  *name = vnni ? "vpdpbusd" : "vpmaddubsw";
  const long iters = 10000000;
  std::vector<int> sink(pool.size() * 16);
  const double t = best_time(3, [&] {
    pool.run([&](int ith, int) { sink[ith * 16] = vnni ? int8_loop_vnni(iters) : int8_loop_avx2(iters); });
  });
  return (double)iters * 12 * (vnni ? 64 : 32) * 2 * pool.size() / t / 1e9;
#else
  (void)pool; (void)isa; (void)name;
  return 0;
#endif
}

int vector_bits(nm::Isa isa) {
  switch (isa) {
    case nm::Isa::avx512: case nm::Isa::avx512_vnni: return 512;
    case nm::Isa::avx2: return 256;
    case nm::Isa::neon: case nm::Isa::neon_dotprod: return 128;
    default: return 0;
  }
}

// Whether `name` is one of the comma-separated names in `list`.
bool listed(const char* list, std::string_view name) {
  for (const char* p = list;; ++p) {
    const char* end = std::strchr(p, ',');
    const std::string_view item(p, end ? (size_t)(end - p) : std::strlen(p));
    if (item == name) return true;
    if (!end) return false;
    p = end;
  }
}


double cpu_now_s() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// --in-cache: see the file comment. W is ~1 MiB (k = 4096), called until 0.2 s of CPU time
// have passed, best of 5.
int in_cache(nm::Isa isa, const char* only_types) {
  nm::ThreadPool pool(1);
  const int64_t k = 4096;
  std::vector<float> x(k);
  for (int64_t i = 0; i < k; ++i) x[(size_t)i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
  const nm::DType types[] = {nm::DType::Q4_0, nm::DType::Q8_0, nm::DType::Q4_1,   nm::DType::Q5_0,
                             nm::DType::Q5_1, nm::DType::Q2_K, nm::DType::Q3_K,   nm::DType::Q4_K,
                             nm::DType::Q5_K, nm::DType::Q6_K, nm::DType::IQ4_NL};
  for (nm::DType t : types) {
    if (!nm::matmul_packable(isa, t, 256, k)) continue;
    if (only_types && !listed(only_types, nm::dtype_name(t))) continue;
    const size_t rb = nm::row_size(t, k);
    const int64_t m = std::max<int64_t>(16, (int64_t)((1u << 20) / rb) / 16 * 16);
    std::vector<uint8_t> file((size_t)m * rb), w((size_t)m * rb);
    for (size_t i = 0; i < file.size(); ++i) file[i] = (uint8_t)(i * 40503u >> 7);
    nm::matmul_pack_weights(t, file.data(), rb, m, k, w.data());
    std::vector<float> y((size_t)m);
    std::vector<uint8_t> scratch(nm::matmul_scratch_bytes(t, m, k, 1));
    nm::MatmulArgs a;
    a.w_type = t; a.w = w.data(); a.w_row_bytes = rb; a.w_packed = true; a.m = m; a.k = k;
    a.x = x.data(); a.x_stride = k; a.n = 1; a.y = y.data(); a.y_stride = m;
    double best = 1e30;
    for (int rep = 0; rep < 5; ++rep) {
      long calls = 0;
      const double t0 = cpu_now_s();
      double t1 = t0;
      while (t1 - t0 < 0.2) {
        for (int i = 0; i < 16; ++i) {
          if (!nm::matmul(isa, a, scratch.data(), pool).ok()) { std::printf("%s failed\n", std::string(nm::dtype_name(t)).c_str()); return 1; }
        }
        calls += 16;
        t1 = cpu_now_s();
      }
      best = std::min(best, (t1 - t0) / (double)calls);
    }
    std::printf("in-cache matvec %sp m=%lld k=%lld isa=%s 1 thread %.2f us %.2f GB/s of CPU time\n",
                std::string(nm::dtype_name(t)).c_str(), (long long)m, (long long)k, nm::isa_name(isa), best * 1e6,
                (double)w.size() / best / 1e9);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2;
  bool quick = false, peaks_only = false, cache_only = false;
  const char* only_types = nullptr;  // comma-separated type names; nullptr: all
  nm::Isa isa = nm::best_isa();
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) threads = std::max(1, std::atoi(argv[++i]));
    else if (a == "--quick") quick = true;
    else if (a == "--peaks-only") peaks_only = true;
    else if (a == "--in-cache") cache_only = true;
    else if (a == "--types" && i + 1 < argc) only_types = argv[++i];
    else if (a == "--isa" && i + 1 < argc) {
      const std::string name = argv[++i];
      bool found = false;
      for (nm::Isa u : nm::usable_isas()) if (name == nm::isa_name(u)) { isa = u; found = true; }
      if (!found) { std::fprintf(stderr, "isa %s is not usable here\n", name.c_str()); return 2; }
    } else {
      std::fprintf(stderr, "usage: bench_kernels [--threads N] [--isa NAME] [--quick] [--types q4_0,q8_0,...] [--peaks-only] [--in-cache]\n");
      return 2;
    }
  }
  if (cache_only) return in_cache(isa, only_types);
  nm::ThreadPool pool(threads);
  // the same measurement `nanomind bench` divides by
  const double bw = nm::measure_read_bandwidth(pool, quick ? (256u << 20) : (1024u << 20)) / 1e9;
  const double peak = nm::measure_fma_peak(pool, isa) / 1e9;
  std::printf("read_bandwidth threads=%d %.2f GB/s\n", threads, bw);
  const char* int8_name = "";
  const double ipeak = int8_peak(pool, isa, &int8_name);
  std::printf("fma_peak threads=%d width=%d %.1f GFLOP/s\n", threads, vector_bits(isa), peak);
  if (ipeak > 0) std::printf("int8_dot_peak threads=%d %s %.1f GOP/s\n", threads, int8_name, ipeak);
  if (peaks_only) return 0;

  const int64_t m = 11008, k = 4096;
  std::vector<float> x((size_t)512 * k);
  for (size_t i = 0; i < x.size(); ++i) x[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
  const nm::DType types[] = {nm::DType::Q4_0, nm::DType::Q8_0,   nm::DType::Q4_K, nm::DType::Q5_K,
                             nm::DType::Q6_K, nm::DType::F16,    nm::DType::Q4_1, nm::DType::Q5_0,
                             nm::DType::Q5_1, nm::DType::IQ4_NL, nm::DType::Q2_K, nm::DType::Q3_K};
  // Matrix-vector runs cycle through copies of W totalling >= 512 MiB, so that every
  // call streams its weights from memory rather than from the last-level cache.
  constexpr size_t kStreamBytes = size_t{512} << 20;
  for (int layout = 0; layout < 2; ++layout)
  for (nm::DType t : types) {
    // layout 1: the row-interleaved copy CPU graphs use where a packed kernel exists
    const bool packed = layout == 1;
    if (packed && !nm::matmul_packable(isa, t, m, k)) continue;
    if (only_types && !listed(only_types, nm::dtype_name(t))) continue;
    const size_t rb = nm::row_size(t, k);
    const size_t wbytes = rb * (size_t)m;
    const size_t copies = std::max<size_t>(1, (kStreamBytes + wbytes - 1) / wbytes);
    // huge pages, as the packed weights of a model have (backend/cpu/packed_weights.h)
    auto w_mem = nm::VirtualBuffer::reserve_huge(wbytes * copies);
    if (!w_mem.ok()) { std::printf("out of memory\n"); return 1; }
    uint8_t* w = static_cast<uint8_t*>(w_mem->data());
    for (size_t i = 0; i < wbytes * copies; ++i) w[i] = (uint8_t)(i * 40503u >> 7);
    if (packed) {
      std::vector<uint8_t> file_layout(w, w + wbytes);
      for (size_t c = 0; c < copies; ++c) nm::matmul_pack_weights(t, file_layout.data(), rb, m, k, w + c * wbytes);
    }
    const int64_t batches[] = {1, quick ? 64 : 512};
    for (int64_t n : batches) {
      const bool k_quant = t == nm::DType::Q4_K || t == nm::DType::Q5_K || t == nm::DType::Q6_K;
      if (n > 1 && !packed && k_quant) continue;
      std::vector<float> y((size_t)n * m);
      std::vector<uint8_t> scratch(nm::matmul_scratch_bytes(t, m, k, n));
      nm::MatmulArgs a;
      a.w_type = t; a.w_row_bytes = rb; a.w_packed = packed; a.m = m; a.k = k;
      a.x = x.data(); a.x_stride = k; a.n = n; a.y = y.data(); a.y_stride = m;
      const size_t calls = n == 1 ? copies : 1;
      bool ok = true;
      const double sec = best_time(n == 1 ? (quick ? 2 : 5) : (quick ? 2 : 3), [&] {
        for (size_t c = 0; c < calls; ++c) {
          a.w = w + c * wbytes;
          ok = ok && nm::matmul(isa, a, scratch.data(), pool).ok();
        }
      }) / (double)calls;
      const std::string name = std::string(nm::dtype_name(t)) + (packed ? "p" : "");
      if (!ok) { std::printf("%s failed\n", name.c_str()); return 1; }
      if (n == 1) {
        const double gbs = (double)wbytes / sec / 1e9;
        std::printf("matvec %-5s m=%lld k=%lld n=1 isa=%s threads=%d %.3f ms %.2f GB/s %.0f%% of read bw\n",
                    name.c_str(), (long long)m, (long long)k, nm::isa_name(isa), threads, sec * 1e3, gbs,
                    100 * gbs / bw);
      } else {
        const double gf = 2.0 * m * n * k / sec / 1e9;
        // integer-dot kernels against the int8 dot peak where there is one, else f32 FMA peak
        const bool int8 = ipeak > 0 && t != nm::DType::F16;
        std::printf("matmul %-5s m=%lld k=%lld n=%lld isa=%s threads=%d %.1f ms %.1f GFLOP/s %.0f%% of %s peak\n",
                    name.c_str(), (long long)m, (long long)k, (long long)n, nm::isa_name(isa), threads, sec * 1e3, gf,
                    100 * gf / (int8 ? ipeak : peak), int8 ? "int8 dot" : "fma");
      }
    }
  }
  return 0;
}
