// gemm_f32(): the driver of the packed-panel f32 GEMM (gemm_f32.h) and its scalar reference
// micro-kernel. W is packed one block of columns at a time (kBlockBytes of panels: the
// block stays in L2 while every activation row passes over it), then the block's work is
// cut into items of (kChunkCalls x NR activation rows, one group of NP panels) taken from
// one counter, so a preempted thread delays one item and any thread count gives the bits
// of one: each output is one micro-kernel call's k loop.
#include "kernels/gemm_f32.h"

#include <algorithm>
#include <atomic>
#include <string>

#include "kernels/gemm_f32_tile.h"

namespace nm {
namespace {

constexpr size_t kBlockBytes = size_t(1) << 20;
constexpr int64_t kChunkCalls = 4;  // micro-kernel row tiles per work item

struct Float1 {
  using Reg = float;
  static constexpr int kLanes = 1;
  static Reg zero() { return 0.0f; }
  static Reg load(const float* p) { return *p; }
  static Reg set1(float v) { return v; }
  static Reg fma(Reg a, Reg b, Reg acc) { return acc + a * b; }
  static Reg add(Reg a, Reg b) { return a + b; }
  static void store(float* p, Reg v) { *p = v; }
};

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Columns of W per packed block: a multiple of two panels, at least two, at most m rounded up.
int64_t block_cols(int64_t m, int64_t k) {
  const int64_t fit = (int64_t)(kBlockBytes / (sizeof(float) * (size_t)std::max<int64_t>(k, 1)));
  const int64_t cols = std::max<int64_t>(2 * kGemmPanel, fit / (2 * kGemmPanel) * (2 * kGemmPanel));
  return std::min(cols, ceil_div(m, kGemmPanel) * kGemmPanel);
}

struct GemmJob {
  GemmF32Kernel kern;
  GemmF32Args a;
  int64_t k_all;  // weights per output: k x taps
  float* panels;
  // The block being worked on.
  int64_t c0 = 0, n_panels = 0, n_groups = 0, n_row_chunks = 0;
  std::atomic<int64_t> next{0};

  // panel[kk][j] = W[c0 + 16p + j][kk], zero past m. Written in order, one 64-byte line per
  // kk read from 16 columns' rows (column-at-a-time writes touched a new line per element:
  // 7.5% of a Piper run went here).
  void pack_panel(int64_t p) const {
    float* dst = panels + p * kGemmPanel * k_all;
    const float* src[kGemmPanel];
    const int live = (int)std::clamp<int64_t>(a.m - (c0 + p * kGemmPanel), 0, kGemmPanel);
    for (int j = 0; j < live; ++j) src[j] = a.w + (c0 + p * kGemmPanel + j) * a.w_stride;
    for (int64_t kk = 0; kk < k_all; ++kk, dst += kGemmPanel) {
      for (int j = 0; j < live; ++j) dst[j] = src[j][kk];
      for (int j = live; j < kGemmPanel; ++j) dst[j] = 0.0f;
    }
  }

  void compute_item(int64_t item) const {
    const int64_t g = item % n_groups, rc = item / n_groups;
    const int64_t p0 = g * kern.panels, np = std::min<int64_t>(kern.panels, n_panels - p0);
    const int64_t col = c0 + p0 * kGemmPanel;
    GemmTile t;
    t.k = a.k;
    t.taps = a.taps;
    t.tap_stride = a.tap_stride;
    t.bias = a.bias ? a.bias + col : nullptr;
    t.res_stride = a.res_stride;
    t.panels = panels + p0 * kGemmPanel * k_all;
    t.panel_stride = kGemmPanel * k_all;
    t.n_panels = (int)np;
    t.x_stride = a.x_stride;
    t.y_stride = a.y_stride;
    t.cols = (int)std::min<int64_t>(np * kGemmPanel, a.m - col);
    const int64_t r_end = std::min(a.n, (rc + 1) * kChunkCalls * kern.rows);
    for (int64_t r = rc * kChunkCalls * kern.rows; r < r_end; r += kern.rows) {
      t.rows = (int)std::min<int64_t>(kern.rows, r_end - r);
      t.x = a.x + r * a.x_stride;
      t.y = a.y + r * a.y_stride + col;
      t.residual = a.residual ? a.residual + r * a.res_stride + col : nullptr;
      kern.run(t);
    }
  }
};

}  // namespace

GemmF32Kernel gemm_f32_kernel_scalar() { return gemm_kernel_of<Float1, 4, 1>(); }

GemmF32Kernel gemm_f32_kernel(Isa isa) {
  GemmF32Kernel k = gemm_f32_kernel_scalar();
  switch (isa) {
#if defined(__x86_64__)
    case Isa::avx2: gemm_f32_kernel_avx2(&k); break;
    case Isa::avx512: case Isa::avx512_vnni: gemm_f32_kernel_avx512(&k); break;
#endif
#if defined(__aarch64__)
    case Isa::neon: case Isa::neon_dotprod: gemm_f32_kernel_neon(&k); break;
#endif
    default: break;
  }
  return k;
}

bool gemm_f32_applies(bool w_f32, bool w_packed, int64_t n) { return w_f32 && !w_packed && n >= kGemmMinRows; }

size_t gemm_f32_scratch_bytes(int64_t m, int64_t k) {
  if (m <= 0 || k <= 0) return 0;
  return sizeof(float) * (size_t)block_cols(m, k) * (size_t)k;
}

Status gemm_f32(Isa isa, const GemmF32Args& a, void* scratch, ThreadPool& pool) {
  if (a.m <= 0 || a.n <= 0) return Status();
  const int64_t k_all = a.k * a.taps;
  if (!a.w || !a.x || !a.y || !scratch || a.k <= 0 || a.taps < 1 || a.tap_stride < 0 || a.w_stride < k_all ||
      a.x_stride < 0 || (a.taps == 1 && a.x_stride < a.k) || a.y_stride < a.m) {
    return error(ErrorCode::invalid_argument, "gemm_f32: null pointer, empty k or a stride too small");
  }
  GemmJob job{gemm_f32_kernel(isa), a, k_all, static_cast<float*>(scratch)};
  const int64_t cols = block_cols(a.m, k_all);
  for (job.c0 = 0; job.c0 < a.m; job.c0 += cols) {
    job.n_panels = ceil_div(std::min(cols, a.m - job.c0), kGemmPanel);
    job.n_groups = ceil_div(job.n_panels, job.kern.panels);
    job.n_row_chunks = ceil_div(a.n, kChunkCalls * job.kern.rows);
    job.next.store(0, std::memory_order_relaxed);
    pool.run_stealable([&job](int, int) {
      for (int64_t p = job.next.fetch_add(1, std::memory_order_relaxed); p < job.n_panels;
           p = job.next.fetch_add(1, std::memory_order_relaxed)) {
        job.pack_panel(p);
      }
    });
    job.next.store(0, std::memory_order_relaxed);
    const int64_t items = job.n_row_chunks * job.n_groups;
    pool.run_stealable([&job, items](int, int) {
      for (int64_t i = job.next.fetch_add(1, std::memory_order_relaxed); i < items;
           i = job.next.fetch_add(1, std::memory_order_relaxed)) {
        job.compute_item(i);
      }
    });
  }
  return Status();
}

}  // namespace nm
