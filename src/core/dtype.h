// Element types and quantised block formats, bit-exact with GGUF/ggml block layouts so
// that model files are used in place. Type ids are GGUF's own (ggml_type values).
// Quant formats are data: one struct per block, its size asserted, one traits table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/fp16.h"

namespace nm {

enum class DType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ4_NL = 20,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  BF16 = 30,
};

constexpr int QK4_0 = 32;
constexpr int QK4_1 = 32;
constexpr int QK5_0 = 32;
constexpr int QK5_1 = 32;
constexpr int QK8_0 = 32;
constexpr int QK8_1 = 32;
constexpr int QK_K = 256;
constexpr int QK4_NL = 32;
constexpr int K_SCALE_SIZE = 12;

// x = d * (q - 8), q in [0, 15]; low nibbles hold elements 0..15, high nibbles 16..31.
struct BlockQ4_0 { fp16_t d; uint8_t qs[QK4_0 / 2]; };
// x = d * q + m
struct BlockQ4_1 { fp16_t d; fp16_t m; uint8_t qs[QK4_1 / 2]; };
// x = d * (q - 16), q 5 bits: low 4 bits as Q4_0, 5th bit of element j in bit j of qh.
struct BlockQ5_0 { fp16_t d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; };
struct BlockQ5_1 { fp16_t d; fp16_t m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; };
// x = d * q
struct BlockQ8_0 { fp16_t d; int8_t qs[QK8_0]; };
// activation side of Q4_1/Q5_1 dots: s = d * sum(qs)
struct BlockQ8_1 { fp16_t d; fp16_t s; int8_t qs[QK8_1]; };
// super-block of 16 sub-blocks of 16: x = d * (scales[s] & 15) * q - dmin * (scales[s] >> 4),
// q 2 bits: value 128n + 32j + l is bits 2j, 2j+1 of qs[32n + l].
struct BlockQ2_K { uint8_t scales[QK_K / 16]; uint8_t qs[QK_K / 4]; fp16_t d; fp16_t dmin; };
// 16 sub-blocks of 16: x = d * (scale - 32) * (q - 4), q = 2 bits as Q2_K's qs plus bit b of
// hmask[l] for value 32b + l as bit 2; 16 6-bit scales packed in 12 bytes (low 4 bits: scales[s]
// for s < 8, scales[s - 8] >> 4 after; high 2 bits: scales[8 + s % 4] >> 2 * (s / 4)).
struct BlockQ3_K { uint8_t hmask[QK_K / 8]; uint8_t qs[QK_K / 4]; uint8_t scales[12]; fp16_t d; };
// super-block of 8 sub-blocks of 32; 6-bit scales and mins packed in `scales`.
struct BlockQ4_K { fp16_t d; fp16_t dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qs[QK_K / 2]; };
struct BlockQ5_K { fp16_t d; fp16_t dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; };
// 16 sub-blocks of 16 with int8 scales; q = 6 bits split into ql (4) and qh (2).
struct BlockQ6_K { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; fp16_t d; };
// activation side of K-quant dots; bsums = sums of each 16 qs.
struct BlockQ8_K { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; };
// x = d * kIq4nlValues[q], q 4 bits: a fixed non-linear grid, denser near 0 where weights
// cluster; nibbles laid out as Q4_0 (element j low nibble of qs[j], j + 16 its high nibble).
struct BlockIQ4_NL { fp16_t d; uint8_t qs[QK4_NL / 2]; };
inline constexpr int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);
static_assert(sizeof(BlockIQ4_NL) == 18);

// Converts n elements (n a multiple of block_size) of one row.
using ToFloatFn = void (*)(const void* src, float* dst, int64_t n);
using FromFloatFn = void (*)(const float* src, void* dst, int64_t n);

struct TypeTraits {
  const char* name;       // "q4_0", as GGUF tools print it
  int block_size;         // elements per block (1 for plain types)
  size_t type_size;       // bytes per block
  bool is_quantized;
  ToFloatFn to_float;     // scalar reference dequantisation; nullptr if not supported
  FromFloatFn from_float; // scalar reference quantisation (round-to-nearest, as ggml's reference); nullptr if not
};

// nullptr for ids NanoMind does not know (the caller reports the id).
const TypeTraits* type_traits(DType type);
inline const TypeTraits* type_traits(uint32_t raw) { return type_traits(static_cast<DType>(raw)); }

bool dtype_is_known(uint32_t raw);
std::string_view dtype_name(DType type);  // "?" for unknown
// Bytes of a row of n elements; n must be a multiple of the block size.
size_t row_size(DType type, int64_t n);
int block_size(DType type);

}  // namespace nm
