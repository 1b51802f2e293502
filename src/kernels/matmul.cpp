// matmul(): argument checks, kernel selection per ISA, activation quantisation and the
// split of Y into fixed tiles across threads. Tiles are fixed by shape alone, so any
// number of threads computes every element with the same code -> bit-identical results.
#include "kernels/matmul.h"

#include <algorithm>
#include <atomic>
#include <string>

#include "core/fp16.h"
#include "kernels/gemm_f32.h"
#include "kernels/matmul_kernels.h"
#include "kernels/matmul_packed.h"

namespace nm {

namespace {

// Weight rows swept per activation tile; keeps a block of W in L2 while it is reused.
constexpr int64_t kRowBlock = 64;
// Weight rows per work chunk of a matrix-vector product.
constexpr int64_t kGemvChunk = 64;

bool select_kernel(Isa isa, DType w_type, MatmulKernel* out) {
  if (!matmul_kernel_scalar(w_type, out)) return false;
  MatmulKernel fast;
  bool have = false;
  switch (isa) {
#if defined(__x86_64__)
    case Isa::avx2: have = matmul_kernel_avx2(w_type, &fast); break;
    case Isa::avx512: have = matmul_kernel_avx512(w_type, false, &fast); break;
    case Isa::avx512_vnni: have = matmul_kernel_avx512(w_type, true, &fast); break;
#endif
#if defined(__aarch64__)
    case Isa::neon: have = matmul_kernel_neon(w_type, false, &fast); break;
    case Isa::neon_dotprod: have = matmul_kernel_neon(w_type, true, &fast); break;
#endif
    default: break;
  }
  if (have) {
    if (!fast.quantize) fast.quantize = out->quantize;
    *out = fast;
  }
  return true;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Runs fn(ith, nth) over the pool, or on the calling thread alone for one activation row:
// quantising a single row takes a few microseconds, less than waking the pool (a decode
// step has ~7 matmuls per layer).
template <class F>
void per_row_task(ThreadPool& pool, int64_t n_rows, F&& fn) {
  if (n_rows == 1) {
    fn(0, 1);
  } else {
    pool.run(fn);
  }
}

// Where the per-block activation data of the packed path start in the scratch.
size_t act_offset(size_t x_bytes) { return (x_bytes + 63) / 64 * 64; }

// Matrix-vector products: fn(c) for chunks c in [0, n_chunks) of weight rows. Each thread
// starts at its own contiguous 1/nth of the chunks and takes them in order, so it reads
// one stream and the hardware prefetcher keeps running from chunk to chunk; chunks dealt
// round-robin from one counter made every thread jump after each chunk, and decode ran
// ~15% slower (TinyLlama Q4_0 tg128 43-50 -> 51-63 tok/s on the 2-core VM). A thread done
// with its share takes chunks from the others', and a worker that has not started when the
// caller is done is not waited for (ThreadPool::run_stealable: on a loaded machine the
// scheduler may not run it for milliseconds). Chunks are fixed by shape, so results do not
// depend on the thread count or on who computed which chunk.
constexpr int kMaxStreams = 64;
template <class F>
void for_each_chunk_streamed(ThreadPool& pool, int64_t n_chunks, F&& fn) {
  struct alignas(64) Share {
    std::atomic<int64_t> next;
    int64_t end;
  };
  const int nth = std::min(pool.size(), kMaxStreams);  // more threads share the last streams
  Share shares[kMaxStreams];
  for (int t = 0; t < nth; ++t) {
    shares[t].next.store(n_chunks * t / nth, std::memory_order_relaxed);
    shares[t].end = n_chunks * (t + 1) / nth;
  }
  pool.run_stealable([&](int ith, int) {
    for (int s = 0; s < nth; ++s) {
      Share& sh = shares[(ith + s) % nth];
      for (int64_t c = sh.next.fetch_add(1, std::memory_order_relaxed); c < sh.end;
           c = sh.next.fetch_add(1, std::memory_order_relaxed)) {
        fn(c);
      }
    }
  });
}

// Packed weights: activation rows quantised to Q8_0 plus, per block, -offset * sum and the
// scale as a float (K-quants: Q8_K rows alone, whose block sums the kernels use); then
// chunks of 4 row groups (x 64 activation rows, from one shared counter; a single
// activation row: for_each_chunk_streamed). Any thread count gives the same bits.
Status matmul_packed(Isa isa, const MatmulArgs& a, const MatmulKernel& quant, void* scratch, ThreadPool& pool) {
  PackedKernel kern;  // k is a whole number of blocks (checked by matmul())
  if (a.m % kPackRows != 0 || !select_packed_kernel(isa, a.w_type, &kern)) {
    return error(ErrorCode::invalid_argument, "matmul: no packed " + std::string(dtype_name(a.w_type)) +
                 " kernel for " + std::to_string(a.m) + " rows of " + std::to_string(a.k) + " on " + isa_name(isa));
  }
  const bool block_data = quant.act_type == DType::Q8_0;
  const int64_t nb = block_data ? a.k / QK8_0 : 0;  // per-block activation data per row
  const size_t x_row_bytes = row_size(quant.act_type, a.k);
  char* xq = static_cast<char*>(scratch);
  auto* act = block_data ? reinterpret_cast<PackedActBlock*>(xq + act_offset(x_row_bytes * (size_t)a.n)) : nullptr;
  per_row_task(pool, a.n, [&](int ith, int nth) {
    for (int64_t r = ith; r < a.n; r += nth) {
      quant.quantize(a.x + r * a.x_stride, xq + r * x_row_bytes, a.k);
      const auto* blocks = reinterpret_cast<const BlockQ8_0*>(xq + r * x_row_bytes);
      for (int64_t b = 0; b < nb; ++b) {
        int32_t sum = 0;
        for (int i = 0; i < QK8_0; ++i) sum += blocks[b].qs[i];
        const float scale = fp16_to_fp32(blocks[b].d);
        act[r * nb + b] = {-kern.offset * sum, scale, scale * (float)sum};
      }
    }
  });
  constexpr int64_t kGroupsPerChunk = 4, kColsPerChunk = 64;
  const int64_t n_groups = a.m / kPackRows, group_bytes = (int64_t)row_size(a.w_type, a.k) * kPackRows;
  if (a.n == 1) {
    for_each_chunk_streamed(pool, ceil_div(n_groups, kGroupsPerChunk), [&](int64_t c) {
      const int64_t g0 = c * kGroupsPerChunk, g1 = std::min(n_groups, g0 + kGroupsPerChunk);
      kern.run(a.k, static_cast<const char*>(a.w) + g0 * group_bytes, g1 - g0, xq, x_row_bytes, act, nb, 1,
               a.y + g0 * kPackRows, a.y_stride);
    });
    return Status();
  }
  const int64_t row_chunks = ceil_div(n_groups, kGroupsPerChunk), col_chunks = ceil_div(a.n, kColsPerChunk);
  std::atomic<int64_t> next_chunk{0};
  pool.run_stealable([&](int, int) {  // chunks from one counter: any thread may take any
    for (int64_t c = next_chunk.fetch_add(1, std::memory_order_relaxed); c < row_chunks * col_chunks;
         c = next_chunk.fetch_add(1, std::memory_order_relaxed)) {
      const int64_t g0 = c / col_chunks * kGroupsPerChunk, g1 = std::min(n_groups, g0 + kGroupsPerChunk);
      const int64_t c0 = c % col_chunks * kColsPerChunk, c1 = std::min(a.n, c0 + kColsPerChunk);
      const char* w = static_cast<const char*>(a.w) + g0 * group_bytes;
      if (c1 - c0 == 1) {  // matrix-vector: the chunk's groups in one call
        kern.run(a.k, w, g1 - g0, xq + c0 * x_row_bytes, x_row_bytes, act + c0 * nb, nb, 1,
                 a.y + c0 * a.y_stride + g0 * kPackRows, a.y_stride);
        continue;
      }
      for (int64_t g = g0; g < g1; ++g, w += group_bytes) {
        for (int64_t col = c0; col < c1; col += kern.tile_n) {
          const int nx = (int)std::min<int64_t>(kern.tile_n, c1 - col);
          kern.run(a.k, w, 1, xq + col * x_row_bytes, x_row_bytes, act + col * nb, nb, nx,
                   a.y + col * a.y_stride + g * kPackRows, a.y_stride);
        }
      }
    }
  });
  return Status();
}

}  // namespace

bool matmul_select_kernel(Isa isa, DType w_type, MatmulKernel* out) { return select_kernel(isa, w_type, out); }

bool select_packed_kernel(Isa isa, DType w_type, PackedKernel* out) {
  switch (isa) {
#if defined(__x86_64__)
    case Isa::avx2: return packed_kernel_avx2(w_type, out) || packed_k_kernel_avx2(w_type, out);
    case Isa::avx512: return packed_kernel_avx512(w_type, false, out) || packed_k_kernel_avx512(w_type, false, out);
    case Isa::avx512_vnni: return packed_kernel_avx512(w_type, true, out) || packed_k_kernel_avx512(w_type, true, out);
#endif
#if defined(__aarch64__)
    case Isa::neon: return packed_k_kernel_neon(w_type, false, out);
    case Isa::neon_dotprod: return packed_kernel_neon(w_type, true, out) || packed_k_kernel_neon(w_type, true, out);
#endif
    default: return false;
  }
}

bool matmul_supports(DType w_type) { return matmul_act_type(w_type) != DType::F64; }

size_t matmul_scratch_bytes(DType w_type, int64_t m, int64_t k, int64_t n) {
  if (gemm_f32_applies(w_type == DType::F32, false, n)) return gemm_f32_scratch_bytes(m, k);
  const DType act = matmul_act_type(w_type);
  if (act == DType::F32 || act == DType::F64 || k % block_size(act) != 0) return 0;
  const size_t x_bytes = row_size(act, k) * (size_t)n;
  // K-quants: the packed path takes their Q8_K rows alone. The other packed formats take
  // Q8_0 plus per-block data (Q4_1 / Q5_1 take Q8_1 in the file layout).
  if (!matmul_has_packed_layout(w_type) || act == DType::Q8_K) return x_bytes;
  const size_t packed = act_offset(row_size(DType::Q8_0, k) * (size_t)n) +
                        (size_t)n * (size_t)(k / QK8_0) * sizeof(PackedActBlock);
  return std::max(x_bytes, packed);
}

Status matmul(Isa isa, const MatmulArgs& a, void* scratch, ThreadPool& pool) {
  if (!matmul_supports(a.w_type)) {
    return error(ErrorCode::unsupported,
                 "matmul: weight type " + std::string(dtype_name(a.w_type)) + " is not supported");
  }
  if (a.m < 0 || a.n < 0 || a.k < 0) return error(ErrorCode::invalid_argument, "matmul: negative size");
  const DType act = matmul_act_type(a.w_type);
  const int64_t bs = std::max(block_size(a.w_type), act == DType::F32 ? 1 : block_size(act));
  if (a.k % bs != 0) {
    return error(ErrorCode::invalid_argument, "matmul: k = " + std::to_string(a.k) +
                 " is not a multiple of the block size " + std::to_string(bs) + " of " +
                 std::string(dtype_name(a.w_type)));
  }
  if (a.m == 0 || a.n == 0) return Status();
  if (!a.w || !a.x || !a.y || (!a.w_packed && a.w_row_bytes < row_size(a.w_type, a.k)) || a.x_stride < a.k ||
      a.y_stride < a.m) {
    return error(ErrorCode::invalid_argument, "matmul: null pointer or row stride too small");
  }
  if (!isa_compiled(isa) || !isa_supported(isa, detect_cpu_features())) {
    return error(ErrorCode::unsupported, std::string("matmul: ISA ") + isa_name(isa) +
                 " is not available on this machine");
  }
  if (gemm_f32_applies(a.w_type == DType::F32, a.w_packed, a.n)) {
    if (!scratch) return error(ErrorCode::invalid_argument, "matmul: scratch is null");
    const GemmF32Args g{.w = static_cast<const float*>(a.w), .w_stride = (int64_t)(a.w_row_bytes / sizeof(float)),
                        .m = a.m, .k = a.k, .x = a.x, .x_stride = a.x_stride, .n = a.n, .y = a.y,
                        .y_stride = a.y_stride};
    return gemm_f32(isa, g, scratch, pool);
  }
  MatmulKernel kern;
  if (!select_kernel(isa, a.w_type, &kern)) return error(ErrorCode::internal, "matmul: no kernel");
  if (a.w_packed) {
    if (!scratch) return error(ErrorCode::invalid_argument, "matmul: scratch is null");
    // The packed legacy formats all take Q8_0 activations (Q4_1 / Q5_1 too, whose file
    // layout takes Q8_1); the K-quants their Q8_K.
    if (kern.act_type == DType::Q8_1 && !select_kernel(isa, DType::Q8_0, &kern)) {
      return error(ErrorCode::internal, "matmul: no Q8_0 quantiser");
    }
    return matmul_packed(isa, a, kern, scratch, pool);
  }

  const void* xq = a.x;
  size_t x_row_bytes = (size_t)a.x_stride * sizeof(float);
  if (act != DType::F32) {
    if (!scratch) return error(ErrorCode::invalid_argument, "matmul: scratch is null");
    x_row_bytes = row_size(act, a.k);
    char* dst = static_cast<char*>(scratch);
    per_row_task(pool, a.n, [&](int ith, int nth) {
      for (int64_t r = ith; r < a.n; r += nth) {
        kern.quantize(a.x + r * a.x_stride, dst + r * x_row_bytes, a.k);
      }
    });
    xq = scratch;
  }

  // Work is handed out in fixed chunks (from per-thread streams for a matrix-vector
  // product, from one shared counter otherwise): a thread that the OS preempts (another
  // app on a phone, a busy core) delays only the chunk it holds, and the chunk boundaries,
  // hence the results, do not depend on the number of threads.
  if (a.n == 1 && kern.gemv) {
    for_each_chunk_streamed(pool, ceil_div(a.m, kGemvChunk), [&](int64_t c) {
      const int64_t r0 = c * kGemvChunk, rows = std::min(kGemvChunk, a.m - r0);
      kern.gemv(a.k, static_cast<const char*>(a.w) + r0 * a.w_row_bytes, a.w_row_bytes, rows, xq, a.y + r0);
    });
    return Status();
  }
  std::atomic<int64_t> next_chunk{0};
  // Matrix-vector: one weight row per tile streams W in order, measured ~1.5-2x faster here.
  const int64_t tm = a.n == 1 ? 1 : kern.tile_m, tn = kern.tile_n;
  const int64_t n_tm = ceil_div(a.m, tm), n_tn = ceil_div(a.n, tn);
  auto run_block = [&](int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
    for (int64_t c = n0; c < n1; c += tn) {
      const int nx = (int)std::min(tn, n1 - c);
      const char* xc = static_cast<const char*>(xq) + c * x_row_bytes;
      for (int64_t r = m0; r < m1; r += tm) {
        const int nw = (int)std::min(tm, m1 - r);
        kern.tile(a.k, static_cast<const char*>(a.w) + r * a.w_row_bytes, a.w_row_bytes, nw, xc, x_row_bytes, nx,
                  a.y + c * a.y_stride + r, a.y_stride);
      }
    }
  };
  const int64_t n_chunks = ceil_div(a.m, kRowBlock);
  if (a.n == 1) {
    for_each_chunk_streamed(pool, n_chunks, [&](int64_t c) {
      run_block(c * kRowBlock, std::min(a.m, (c + 1) * kRowBlock), 0, 1);
    });
    return Status();
  }
  if (n_chunks >= pool.size() || n_tm >= n_tn) {
    // Chunks of kRowBlock weight rows (a block of W stays in L2 while every activation tile uses it).
    pool.run_stealable([&](int, int) {
      for (int64_t c = next_chunk.fetch_add(1, std::memory_order_relaxed); c < n_chunks;
           c = next_chunk.fetch_add(1, std::memory_order_relaxed)) {
        run_block(c * kRowBlock, std::min(a.m, (c + 1) * kRowBlock), 0, a.n);
      }
    });
    return Status();
  }
  // Short W (fewer row blocks than threads), many activation rows: split the activation tiles.
  pool.run([&](int ith, int nth) {
    const int64_t lo = n_tn * ith / nth, hi = n_tn * (ith + 1) / nth;
    run_block(0, a.m, lo * tn, std::min(a.n, hi * tn));
  });
  return Status();
}

}  // namespace nm
