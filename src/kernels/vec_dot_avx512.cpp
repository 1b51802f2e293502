// AVX-512 matmul kernels. Q4_0/Q5_0/Q8_0/IQ4_NL tiles run two blocks per 512-bit register
// (lanes 0-7 block b, 8-15 block b+1), up to 4x4 tiles in the 32 vector registers;
// vpdpbusd only when the Isa is avx512_vnni (the caller passes vnni = true only then).
// Other types use the shared 256-bit kernels.
#include "kernels/avx512_gcc_warnings.h"  // before any intrinsics header

#include "kernels/matmul_x86_impl.h"
#include "kernels/matmul_x86_kquants.h"

namespace nm {

namespace {

constexpr int kTile = compiled_tile(4);  // weight rows and activation rows per tile

template <bool kVnni>
inline __m512i dot_u8s8_512(__m512i a, __m512i b) {
  if constexpr (kVnni) return _mm512_dpbusd_epi32(_mm512_setzero_si512(), a, b);
  return _mm512_madd_epi16(_mm512_maddubs_epi16(a, b), _mm512_set1_epi16(1));
}

inline __m512i join(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }
inline __m512 join_scale(float lo, float hi) {
  return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(lo)), _mm256_set1_ps(hi), 1);
}
inline __m256i load_x(const BlockQ8_0& b) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs)); }

// Integer dot of a weight block pair with an activation pair, 8 int32 lanes per block.
// Offset formats: aw = q, result q.x - offset*sum(x) (xoff precomputed). Signed formats:
// aw = |w|, neg = sign mask of w, result |w|.(x with w's sign).
template <class W, bool kVnni>
inline __m512i pair_product(__m512i aw, __mmask64 neg, __m512i x, __m512i xoff) {
  if constexpr (W::kUnsigned) return _mm512_sub_epi32(dot_u8s8_512<kVnni>(aw, x), xoff);
  return dot_u8s8_512<kVnni>(aw, _mm512_mask_sub_epi8(x, neg, _mm512_setzero_si512(), x));
}

// The sum of a block-pair accumulator's 16 lanes, in the one order both the tiles and the
// matrix-vector kernel use (a row's result must not depend on which of them ran it).
inline float reduce_pair_acc(__m512 acc) {
  return hsum8(_mm256_add_ps(_mm512_castps512_ps256(acc),
                             _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1))));
}

template <class W, bool kVnni, int NW, int NX>
void tile_q8_512(int64_t k, const void* w, size_t w_row_bytes, const void* x, size_t x_row_bytes,
                 float* y, int64_t y_stride) {
  const typename W::Block* wr[NW];
  const BlockQ8_0* xr[NX];
  row_pointers(w, w_row_bytes, wr);
  row_pointers(x, x_row_bytes, xr);
  __m512 acc[NW][NX];
  for (int r = 0; r < NW; ++r)
    for (int c = 0; c < NX; ++c) acc[r][c] = _mm512_setzero_ps();
  const int64_t nb = k / QK8_0;
  for (int64_t b = 0; b < nb; b += 2) {
    const bool pair = b + 1 < nb;  // an odd last block runs with a zero upper half
    __m512i xv[NX], xoff[NX];
    __m512 dx[NX];
    for (int c = 0; c < NX; ++c) {
      xv[c] = join(load_x(xr[c][b]), pair ? load_x(xr[c][b + 1]) : _mm256_setzero_si256());
      dx[c] = join_scale(h2f(xr[c][b].d), pair ? h2f(xr[c][b + 1].d) : 0.0f);
      if constexpr (W::kUnsigned) xoff[c] = dot_u8s8_512<kVnni>(_mm512_set1_epi8(W::kOffset), xv[c]);
    }
    for (int r = 0; r < NW; ++r) {
      const __m512i wv = join(W::load(wr[r][b]), pair ? W::load(wr[r][b + 1]) : _mm256_setzero_si256());
      const __m512 dw = join_scale(h2f(wr[r][b].d), pair ? h2f(wr[r][b + 1].d) : 0.0f);
      const __m512i aw = W::kUnsigned ? wv : _mm512_abs_epi8(wv);
      const __mmask64 neg = W::kUnsigned ? 0 : _mm512_movepi8_mask(wv);
      for (int c = 0; c < NX; ++c) {
        const __m512i p = pair_product<W, kVnni>(aw, neg, xv[c], W::kUnsigned ? xoff[c] : xv[c]);
        acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_mul_ps(dw, dx[c]), acc[r][c]);
      }
    }
  }
  for (int r = 0; r < NW; ++r)
    for (int c = 0; c < NX; ++c) y[c * y_stride + r] = reduce_pair_acc(acc[r][c]);
}

template <class W, bool kVnni>
struct TileQ8x512 {
  template <int NW, int NX>
  static void run(int64_t k, const void* w, size_t wb, const void* x, size_t xb, float* y, int64_t ys) {
    tile_q8_512<W, kVnni, NW, NX>(k, w, wb, x, xb, y, ys);
  }
};

template <class W, bool kVnni>
void tile_q8_512_dispatch(int64_t k, const void* w, size_t w_row_bytes, int nw, const void* x,
                          size_t x_row_bytes, int nx, float* y, int64_t y_stride) {
  dispatch_tile<TileQ8x512<W, kVnni>, kTile, kTile>(nw, nx, k, w, w_row_bytes, x, x_row_bytes, y, y_stride);
}

// Two consecutive weight blocks as 64 values (lanes 0-7: first block, 8-15: second).
template <class W>
inline __m512i load_pair(const typename W::Block& a, const typename W::Block& b) {
  if constexpr (std::is_same_v<W, WQ4_0>) {
    // 128-bit lanes: a, a, b, b; the upper lane of each block is shifted to its high nibbles
    const __m512i v = _mm512_mask_broadcast_i32x4(
        _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a.qs))), 0xFF00,
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs)));
    const __m512i s = _mm512_srlv_epi64(v, _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4));
    return _mm512_and_si512(s, _mm512_set1_epi8(0x0f));
  } else {
    return join(W::load(a), W::load(b));
  }
}

// Matrix-vector product (one activation row): the activation side of every block pair
// (the two blocks joined in one register, their scales, the offset sums) is prepared once
// per call rather than once per weight row, leaving the weight stream, the integer dots
// and one FMA per pair in the inner loop. Each row accumulates its pairs in order in one
// register, as tile_q8_512 does, so a row gets the same bits here as in a batch. One chain
// of FMAs per row keeps up with memory (bench_kernels: as fast as two accumulators per row
// were); interleaving 2 or 4 rows to hide its latency measured 1.5-2.5x slower.
template <class W, bool kVnni>
void gemv_q8_512(int64_t k, const void* w, size_t w_row_bytes, int64_t rows, const void* x, float* y) {
  constexpr int64_t kMaxPairs = 256;  // k <= 16384 on the stack (48 KiB); longer rows use the tile
  const int64_t nb = k / QK8_0, n_full = nb / 2, np = (nb + 1) / 2;
  if (np > kMaxPairs) {
    for (int64_t r = 0; r < rows; ++r) {
      tile_q8_512<W, kVnni, 1, 1>(k, static_cast<const char*>(w) + r * w_row_bytes, w_row_bytes, x, 0, y + r, 1);
    }
    return;
  }
  const auto* xb = static_cast<const BlockQ8_0*>(x);
  __m512i xv[kMaxPairs], xoff[kMaxPairs];
  __m512 dx[kMaxPairs];
  for (int64_t p = 0; p < np; ++p) {
    const int64_t b = 2 * p;
    const bool pair = b + 1 < nb;
    xv[p] = join(load_x(xb[b]), pair ? load_x(xb[b + 1]) : _mm256_setzero_si256());
    dx[p] = join_scale(h2f(xb[b].d), pair ? h2f(xb[b + 1].d) : 0.0f);
    if constexpr (W::kUnsigned) xoff[p] = dot_u8s8_512<kVnni>(_mm512_set1_epi8(W::kOffset), xv[p]);
  }
  auto dot_pair = [&](int64_t p, __m512i wv, __m512 dw, __m512& acc) {
    const __m512i aw = W::kUnsigned ? wv : _mm512_abs_epi8(wv);
    const __mmask64 neg = W::kUnsigned ? 0 : _mm512_movepi8_mask(wv);
    const __m512i prod = pair_product<W, kVnni>(aw, neg, xv[p], W::kUnsigned ? xoff[p] : xv[p]);
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(prod), _mm512_mul_ps(dw, dx[p]), acc);
  };
  // Lanes 0-7 take the first scale of each pair, 8-15 the second.
  const __m512i lo_pair = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  const __m512i hi_pair = _mm512_setr_epi32(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  for (int64_t r = 0; r < rows; ++r) {
    const auto* wb = reinterpret_cast<const typename W::Block*>(static_cast<const char*>(w) + r * w_row_bytes);
    __m512 acc = _mm512_setzero_ps();
    int64_t p = 0;
    for (; p + 1 < n_full; p += 2) {
      const int64_t b = 2 * p;
      // the four fp16 block scales -> 4 floats with one conversion, then spread per pair
      const uint64_t h4 = (uint64_t)wb[b].d | (uint64_t)wb[b + 1].d << 16 | (uint64_t)wb[b + 2].d << 32 |
                          (uint64_t)wb[b + 3].d << 48;
      const __m512 d4 = _mm512_castps128_ps512(_mm_cvtph_ps(_mm_cvtsi64_si128((long long)h4)));
      dot_pair(p, load_pair<W>(wb[b], wb[b + 1]), _mm512_permutexvar_ps(lo_pair, d4), acc);
      dot_pair(p + 1, load_pair<W>(wb[b + 2], wb[b + 3]), _mm512_permutexvar_ps(hi_pair, d4), acc);
    }
    for (; p < np; ++p) {
      const int64_t b = 2 * p;
      const bool pair = b + 1 < nb;
      dot_pair(p, join(W::load(wb[b]), pair ? W::load(wb[b + 1]) : _mm256_setzero_si256()),
               join_scale(h2f(wb[b].d), pair ? h2f(wb[b + 1].d) : 0.0f), acc);
    }
    y[r] = reduce_pair_acc(acc);
  }
}

template <bool kVnni>
bool avx512_kernel(DType w_type, MatmulKernel* out) {
  if (matmul_kernel_float_avx512(w_type, out)) return true;
  if (!x86_kernel<kVnni, kTile, kTile>(w_type, out)) return x86_kernel_k<kTile, kTile>(w_type, out);
  switch (w_type) {
    case DType::Q4_0:
      out->tile = tile_q8_512_dispatch<WQ4_0, kVnni>;
      out->gemv = gemv_q8_512<WQ4_0, kVnni>;
      break;
    case DType::Q5_0:
      out->tile = tile_q8_512_dispatch<WQ5_0, kVnni>;
      out->gemv = gemv_q8_512<WQ5_0, kVnni>;
      break;
    case DType::Q8_0:
      out->tile = tile_q8_512_dispatch<WQ8_0, kVnni>;
      out->gemv = gemv_q8_512<WQ8_0, kVnni>;
      break;
    case DType::IQ4_NL:
      out->tile = tile_q8_512_dispatch<WIQ4_NL, kVnni>;
      out->gemv = gemv_q8_512<WIQ4_NL, kVnni>;
      break;
    default: break;
  }
  return true;
}

}  // namespace

bool matmul_kernel_avx512(DType w_type, bool vnni, MatmulKernel* out) {
  return vnni ? avx512_kernel<true>(w_type, out) : avx512_kernel<false>(w_type, out);
}

}  // namespace nm
