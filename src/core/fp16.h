// Scalar IEEE half and bfloat16 conversions (round to nearest even), used by the
// reference paths and by quant block scales. SIMD paths convert with F16C / NEON.
#pragma once

#include <cstdint>
#include <cstring>

namespace nm {

using fp16_t = uint16_t;  // raw IEEE 754 binary16 bits
using bf16_t = uint16_t;  // raw bfloat16 bits

inline float bits_to_float(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
inline uint32_t float_to_bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }

inline float fp16_to_fp32(fp16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return bits_to_float(sign | 0x7f800000u | (mant << 13));  // inf / nan
  if (exp == 0) {
    if (mant == 0) return bits_to_float(sign);
    // subnormal: value = mant * 2^-24
    float v = (float)mant * 5.9604644775390625e-8f;
    return sign ? -v : v;
  }
  return bits_to_float(sign | ((exp + 112) << 23) | (mant << 13));
}

inline fp16_t fp32_to_fp16(float f) {
  uint32_t x = float_to_bits(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  x &= 0x7fffffffu;
  if (x >= 0x7f800000u) return (fp16_t)(sign | 0x7c00u | (x > 0x7f800000u ? 0x200u : 0));  // inf/nan
  if (x >= 0x477ff000u) return (fp16_t)(sign | 0x7c00u);  // rounds to >= 65520: overflow to inf
  if (x < 0x38800000u) {  // below the smallest normal half: subnormal or zero
    if (x < 0x33000000u) return (fp16_t)sign;  // < 2^-25 rounds to zero
    const uint32_t e = x >> 23;
    const uint32_t m = (x & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - e;  // 14 + (112 - e) ... brings m to units of 2^-24
    uint32_t q = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1))) q++;
    return (fp16_t)(sign | q);
  }
  // normal: rebias exponent, round mantissa to 10 bits (nearest even)
  uint32_t v = x - 0x38000000u;  // exponent 127 -> 15
  const uint32_t rem = v & 0x1fffu;
  v >>= 13;
  if (rem > 0x1000u || (rem == 0x1000u && (v & 1))) v++;
  return (fp16_t)(sign | v);
}

inline float bf16_to_fp32(bf16_t h) { return bits_to_float((uint32_t)h << 16); }

inline bf16_t fp32_to_bf16(float f) {
  uint32_t x = float_to_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (bf16_t)((x >> 16) | 0x40u);  // quiet nan
  x += 0x7fffu + ((x >> 16) & 1);  // round to nearest even
  return (bf16_t)(x >> 16);
}

}  // namespace nm
