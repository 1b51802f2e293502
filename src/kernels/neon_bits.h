// Small NEON helpers shared by the NEON matmul files (included only by *_neon.cpp).
#pragma once

#include <arm_neon.h>

#include <cstdint>

namespace nm {

// Byte i of the result is 16 where bit i of `bits` is set, else 0: Q5_0 / Q5_1 5th bits
// as the value they add.
inline int8x16_t fifth_bits(uint16_t bits) {
  const uint8x16_t bytes = vcombine_u8(vdup_n_u8((uint8_t)bits), vdup_n_u8((uint8_t)(bits >> 8)));
  static constexpr uint8_t kBit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
  return vreinterpretq_s8_u8(vandq_u8(vtstq_u8(bytes, vld1q_u8(kBit)), vdupq_n_u8(16)));
}

}  // namespace nm
