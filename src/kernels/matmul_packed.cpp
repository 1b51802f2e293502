// Packing of Q4_0 / Q8_0 weight matrices into the row-interleaved layout (matmul_packed.h).
#include "kernels/matmul_packed.h"

#include <cstring>

#include "kernels/matmul_kernels.h"
#include "kernels/matmul_packed_k.h"

namespace nm {

bool matmul_has_packed_layout(DType w_type) {
  return w_type == DType::Q4_0 || w_type == DType::Q8_0 || kquant_has_packed_layout(w_type);
}

bool matmul_packable(Isa isa, DType w_type, int64_t m, int64_t k) {
  if (!matmul_has_packed_layout(w_type) || m <= 0 || m % kPackRows != 0 || k <= 0 || k % block_size(w_type) != 0) {
    return false;
  }
  PackedKernel kern;
  return select_packed_kernel(isa, w_type, &kern);
}

size_t matmul_packed_bytes(DType w_type, int64_t m, int64_t k) { return row_size(w_type, k) * (size_t)m; }

void matmul_pack_weights(DType w_type, const void* w, size_t w_row_bytes, int64_t m, int64_t k, void* dst) {
  if (kquant_has_packed_layout(w_type)) {
    pack_kquant_weights(w_type, w, w_row_bytes, m, k, dst);
    return;
  }
  const int64_t nb = k / 32;
  auto* out = static_cast<uint8_t*>(dst);
  const bool q4 = w_type == DType::Q4_0;
  const int64_t chunks = q4 ? 4 : 8;  // 4-byte chunks per row and block
  for (int64_t g = 0; g < m / kPackRows; ++g) {
    const char* rows = static_cast<const char*>(w) + g * kPackRows * w_row_bytes;
    for (int64_t b = 0; b < nb; ++b) {
      auto* d = reinterpret_cast<fp16_t*>(out);
      uint8_t* qs = out + kPackRows * sizeof(fp16_t);
      for (int64_t r = 0; r < kPackRows; ++r) {
        const char* row = rows + r * w_row_bytes;
        const uint8_t* src;
        if (q4) {
          const auto& blk = reinterpret_cast<const BlockQ4_0*>(row)[b];
          d[r] = blk.d;
          src = blk.qs;
        } else {
          const auto& blk = reinterpret_cast<const BlockQ8_0*>(row)[b];
          d[r] = blk.d;
          src = reinterpret_cast<const uint8_t*>(blk.qs);
        }
        for (int64_t j = 0; j < chunks; ++j) {
          uint8_t* to = qs + (j * kPackRows + r) * 4;
          std::memcpy(to, src + j * 4, 4);
          if (!q4) {
            for (int i = 0; i < 4; ++i) to[i] ^= 0x80;  // int8 q -> uint8 q + 128
          }
        }
      }
      out += kPackRows * (sizeof(fp16_t) + chunks * 4);
    }
  }
}

}  // namespace nm
