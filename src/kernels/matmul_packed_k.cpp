// Packing of K-quant weight matrices into the row-interleaved layouts of matmul_packed_k.h.
#include "kernels/matmul_packed_k.h"

#include <cstring>

namespace nm {

static_assert(PackedQ2K::bytes == kPackRows * sizeof(BlockQ2_K));
static_assert(PackedQ3K::bytes == kPackRows * sizeof(BlockQ3_K));
static_assert(PackedQ4K::bytes == kPackRows * sizeof(BlockQ4_K));
static_assert(PackedQ5K::bytes == kPackRows * sizeof(BlockQ5_K));
static_assert(PackedQ6K::bytes == kPackRows * sizeof(BlockQ6_K));

namespace {

// dst[(c * kPackRows + r) * chunk + i] = src[r][c * chunk + i]: n_bytes of each row's field
// in chunks of `chunk` bytes, the 16 rows' copies of a chunk side by side.
void interleave(uint8_t* dst, const uint8_t* const (&src)[kPackRows], int n_bytes, int chunk) {
  for (int c = 0; c < n_bytes / chunk; ++c) {
    for (int r = 0; r < kPackRows; ++r) std::memcpy(dst + (c * kPackRows + r) * chunk, src[r] + c * chunk, chunk);
  }
}

template <class Block, class Fn>
void for_each_record(const void* w, size_t w_row_bytes, int64_t m, int64_t k, size_t record_bytes, void* dst,
                     Fn&& pack_record) {
  const int64_t nsb = k / QK_K;
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t g = 0; g < m / kPackRows; ++g) {
    for (int64_t b = 0; b < nsb; ++b, out += record_bytes) {
      const Block* rows[kPackRows];
      for (int r = 0; r < kPackRows; ++r) {
        rows[r] = reinterpret_cast<const Block*>(static_cast<const char*>(w) + (g * kPackRows + r) * w_row_bytes) + b;
      }
      pack_record(rows, out);
    }
  }
}

// The fp16 field at `field` of each row's block, 16 in a row.
template <class Block>
void gather_f16(uint8_t* dst, const Block* const (&rows)[kPackRows], fp16_t Block::*field) {
  for (int r = 0; r < kPackRows; ++r) std::memcpy(dst + 2 * r, &(rows[r]->*field), 2);
}

template <class Block, size_t N, class T>
void interleave_field(uint8_t* dst, const Block* const (&rows)[kPackRows], T (Block::*field)[N], int chunk) {
  const uint8_t* src[kPackRows];
  for (int r = 0; r < kPackRows; ++r) src[r] = reinterpret_cast<const uint8_t*>(rows[r]->*field);
  interleave(dst, src, (int)(N * sizeof(T)), chunk);
}

}  // namespace

void pack_kquant_weights(DType w_type, const void* w, size_t w_row_bytes, int64_t m, int64_t k, void* dst) {
  switch (w_type) {
    case DType::Q2_K:
      for_each_record<BlockQ2_K>(w, w_row_bytes, m, k, PackedQ2K::bytes, dst, [](const auto& rows, uint8_t* o) {
        gather_f16(o + PackedQ2K::d, rows, &BlockQ2_K::d);
        gather_f16(o + PackedQ2K::dmin, rows, &BlockQ2_K::dmin);
        interleave_field(o + PackedQ2K::scales, rows, &BlockQ2_K::scales, 2);
        interleave_field(o + PackedQ2K::qs, rows, &BlockQ2_K::qs, 4);
      });
      break;
    case DType::Q3_K:
      for_each_record<BlockQ3_K>(w, w_row_bytes, m, k, PackedQ3K::bytes, dst, [](const auto& rows, uint8_t* o) {
        gather_f16(o + PackedQ3K::d, rows, &BlockQ3_K::d);
        interleave_field(o + PackedQ3K::scales, rows, &BlockQ3_K::scales, 1);
        interleave_field(o + PackedQ3K::hmask, rows, &BlockQ3_K::hmask, 4);
        interleave_field(o + PackedQ3K::qs, rows, &BlockQ3_K::qs, 4);
      });
      break;
    case DType::Q4_K:
      for_each_record<BlockQ4_K>(w, w_row_bytes, m, k, PackedQ4K::bytes, dst, [](const auto& rows, uint8_t* o) {
        gather_f16(o + PackedQ4K::d, rows, &BlockQ4_K::d);
        gather_f16(o + PackedQ4K::dmin, rows, &BlockQ4_K::dmin);
        interleave_field(o + PackedQ4K::scales, rows, &BlockQ4_K::scales, 1);
        interleave_field(o + PackedQ4K::qs, rows, &BlockQ4_K::qs, 4);
      });
      break;
    case DType::Q5_K:
      for_each_record<BlockQ5_K>(w, w_row_bytes, m, k, PackedQ5K::bytes, dst, [](const auto& rows, uint8_t* o) {
        gather_f16(o + PackedQ5K::d, rows, &BlockQ5_K::d);
        gather_f16(o + PackedQ5K::dmin, rows, &BlockQ5_K::dmin);
        interleave_field(o + PackedQ5K::scales, rows, &BlockQ5_K::scales, 1);
        interleave_field(o + PackedQ5K::qh, rows, &BlockQ5_K::qh, 4);
        interleave_field(o + PackedQ5K::qs, rows, &BlockQ5_K::qs, 4);
      });
      break;
    case DType::Q6_K:
      for_each_record<BlockQ6_K>(w, w_row_bytes, m, k, PackedQ6K::bytes, dst, [](const auto& rows, uint8_t* o) {
        gather_f16(o + PackedQ6K::d, rows, &BlockQ6_K::d);
        interleave_field(o + PackedQ6K::scales, rows, &BlockQ6_K::scales, 2);
        interleave_field(o + PackedQ6K::ql, rows, &BlockQ6_K::ql, 4);
        interleave_field(o + PackedQ6K::qh, rows, &BlockQ6_K::qh, 4);
      });
      break;
    default: break;
  }
}

}  // namespace nm
