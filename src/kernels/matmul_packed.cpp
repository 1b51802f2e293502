// Packing of weight matrices into the row-interleaved layout (matmul_packed.h).
#include "kernels/matmul_packed.h"

#include <cstring>

#include "kernels/matmul_kernels.h"
#include "kernels/matmul_packed_k.h"

namespace nm {

namespace {

// Where the fields of one file block are (nullptr: the type has no such field).
struct BlockFields {
  const fp16_t* d = nullptr;
  const fp16_t* m = nullptr;
  const uint8_t* qh = nullptr;
  const uint8_t* qs = nullptr;
};

template <class B>
BlockFields fields_of(const B& blk) {
  BlockFields f;
  f.d = &blk.d;
  if constexpr (requires { blk.m; }) f.m = &blk.m;
  if constexpr (requires { blk.qh; }) f.qh = blk.qh;
  f.qs = reinterpret_cast<const uint8_t*>(blk.qs);
  return f;
}

BlockFields block_fields(DType t, const char* row, int64_t b) {
  switch (t) {
    case DType::Q4_0: return fields_of(reinterpret_cast<const BlockQ4_0*>(row)[b]);
    case DType::Q4_1: return fields_of(reinterpret_cast<const BlockQ4_1*>(row)[b]);
    case DType::Q5_0: return fields_of(reinterpret_cast<const BlockQ5_0*>(row)[b]);
    case DType::Q5_1: return fields_of(reinterpret_cast<const BlockQ5_1*>(row)[b]);
    case DType::IQ4_NL: return fields_of(reinterpret_cast<const BlockIQ4_NL*>(row)[b]);
    default: return fields_of(reinterpret_cast<const BlockQ8_0*>(row)[b]);
  }
}

}  // namespace

bool matmul_has_packed_layout(DType w_type) {
  switch (w_type) {
    case DType::Q4_0: case DType::Q4_1: case DType::Q5_0: case DType::Q5_1: case DType::Q8_0:
    case DType::IQ4_NL: return true;
    default: return kquant_has_packed_layout(w_type);
  }
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
  const PackedBlockLayout lay = packed_block_layout(w_type);
  const bool q8 = w_type == DType::Q8_0;
  const int64_t chunks = q8 ? 8 : 4;  // 4-byte chunks of qs per row and block
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t g = 0; g < m / kPackRows; ++g) {
    const char* rows = static_cast<const char*>(w) + g * kPackRows * w_row_bytes;
    for (int64_t b = 0; b < nb; ++b, out += lay.bytes) {
      uint8_t qh[kPackRows * 4] = {};
      for (int64_t r = 0; r < kPackRows; ++r) {
        const BlockFields f = block_fields(w_type, rows + r * w_row_bytes, b);
        std::memcpy(out + 2 * r, f.d, 2);
        if (lay.m >= 0) std::memcpy(out + lay.m + 2 * r, f.m, 2);
        if (lay.qh >= 0) {
          uint32_t h;
          std::memcpy(&h, f.qh, 4);
          for (int j = 0; j < 8; ++j)
            for (int i = 0; i < 4; ++i) qh[4 * r + i] |= (uint8_t)(((h >> (4 * j + i)) & 1) << j);
        }
        for (int64_t j = 0; j < chunks; ++j) {
          uint8_t* to = out + lay.qs + (j * kPackRows + r) * 4;
          std::memcpy(to, f.qs + j * 4, 4);
          if (q8) {
            for (int i = 0; i < 4; ++i) to[i] ^= 0x80;  // int8 q -> uint8 q + 128
          }
        }
      }
      if (lay.qh >= 0) std::memcpy(out + lay.qh, qh, sizeof(qh));
    }
  }
}

}  // namespace nm
