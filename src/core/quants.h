// Scalar reference quantise/dequantise for the ggml block formats (Q4_0..Q8_1, Q4_K..Q8_K,
// IQ4_NL; Q2_K and Q3_K dequantise only).
// Algorithms follow ggml's reference (ggml-quants.c "_ref") so bytes match llama.cpp's.
// All functions are pure and thread-safe; n is the element count, a multiple of the block size.
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "core/status.h"

namespace nm {

// Row converters (signatures match TypeTraits::to_float / from_float). src/dst for the
// quantised side point at n / block_size consecutive Block* structs.
void dequantize_row_q4_0(const void* src, float* dst, int64_t n);
void dequantize_row_q4_1(const void* src, float* dst, int64_t n);
void dequantize_row_q5_0(const void* src, float* dst, int64_t n);
void dequantize_row_q5_1(const void* src, float* dst, int64_t n);
void dequantize_row_q8_0(const void* src, float* dst, int64_t n);
void dequantize_row_q8_1(const void* src, float* dst, int64_t n);
void dequantize_row_q2_k(const void* src, float* dst, int64_t n);
void dequantize_row_q3_k(const void* src, float* dst, int64_t n);
void dequantize_row_q4_k(const void* src, float* dst, int64_t n);
void dequantize_row_q5_k(const void* src, float* dst, int64_t n);
void dequantize_row_q6_k(const void* src, float* dst, int64_t n);
void dequantize_row_q8_k(const void* src, float* dst, int64_t n);
void dequantize_row_iq4_nl(const void* src, float* dst, int64_t n);

void quantize_row_q4_0(const float* src, void* dst, int64_t n);  // d = max/-8 (signed absmax)
void quantize_row_q4_1(const float* src, void* dst, int64_t n);  // d = (max-min)/15, m = min
void quantize_row_q5_0(const float* src, void* dst, int64_t n);  // d = max/-16
void quantize_row_q5_1(const float* src, void* dst, int64_t n);  // d = (max-min)/31, m = min
void quantize_row_q8_0(const float* src, void* dst, int64_t n);  // d = absmax/127, roundf
void quantize_row_q8_1(const float* src, void* dst, int64_t n);  // as Q8_0, s = d * sum(qs)
void quantize_row_q4_k(const float* src, void* dst, int64_t n);  // make_qkx2_quants, 6-bit scales/mins
void quantize_row_q5_k(const float* src, void* dst, int64_t n);
void quantize_row_q6_k(const float* src, void* dst, int64_t n);  // make_qx_quants, int8 scales
void quantize_row_q8_k(const float* src, void* dst, int64_t n);  // d = max/-127, bsums per 16
// ggml's reference IQ4_NL (no scale search): nearest grid value at d0 = absmax/-127, then
// d = least-squares scale of those levels with weights x^2.
void quantize_row_iq4_nl(const float* src, void* dst, int64_t n);

// n_rows rows of n_per_row elements; dst rows are row_size(type, n_per_row) bytes apart.
// Errors: unknown type, type without a converter, n_per_row not a multiple of the block size,
// negative counts, null pointers with non-zero sizes.
Status quantize_rows(DType type, const float* src, void* dst, int64_t n_rows, int64_t n_per_row);
Status dequantize_rows(DType type, const void* src, float* dst, int64_t n_rows, int64_t n_per_row);

// ggml's nearest_int: round half to even via the 1.5*2^23 trick; valid for |x| < 2^22.
// Q2_K / Q3_K: the 2 low bits of value v (0..255) of a super-block's qs.
inline int q2_bits(const uint8_t* qs, int v) { return (qs[32 * (v / 128) + v % 32] >> (2 * (v % 128 / 32))) & 3; }
// Q3_K: the 6-bit scale of sub-block s (0..15) minus 32.
inline int q3_scale(const uint8_t* scales, int s) {
  const int lo = (s < 8 ? scales[s] : scales[s - 8] >> 4) & 15;
  const int hi = (scales[8 + s % 4] >> (2 * (s / 4))) & 3;
  return (lo | hi << 4) - 32;
}

inline int quant_nearest_int(float x) {
  float v = x + 12582912.f;
  int32_t i = static_cast<int32_t>(float_to_bits(v));
  return (i & 0x007fffff) - 0x00400000;
}

}  // namespace nm
