// Row-interleaved ("packed") weight layouts for the CPU matmul. GGUF keeps each weight
// row's blocks together, so a kernel has to sum every row's products horizontally. The
// packed layout interleaves kPackRows rows block by block: one 512-bit register holds
// 4 bytes of each of 16 rows, one integer-dot instruction advances 16 output rows, and
// the results land in vector lanes, one per row. Weights are packed once when a CPU
// graph is prepared (backend/cpu/packed_weights.h); other devices keep the file layout.
// A packed group-block is exactly as large as the 16 file blocks it holds, so the copy of
// a matrix takes the file's bytes (and its place: packed_weights.h).
//
// Per group of 16 rows and 32-value block b, in this order:
//   fp16 d[16]                     the 16 rows' block scales (every type)
//   fp16 m[16]                     the rows' block minimums (Q4_1, Q5_1)
//   uint8 qh[16][4]                5th bits (Q5_0, Q5_1): bit j of qh[r][i] is the 5th bit of
//                                  row r's value 4j+i, i.e. of byte 4r+i of weight register
//                                  j below: every register's bits sit in the same bytes as
//                                  its values (a test or a shift and a mask per register)
//   uint8 qs[4][16][4]             4-bit formats (Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL):
//                                  qs[j][r][i] = byte 4j+i of row r's block; its low nibble
//                                  is value 4j+i, its high nibble value 16+4j+i
//   uint8 qs[8][16][4]             Q8_0: qs[j][r][i] = row r's int8 value 4j+i, plus 128
// Bytes per group-block: Q4_0 / IQ4_NL 288, Q4_1 320, Q5_0 352, Q5_1 384, Q8_0 544.
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "kernels/cpu_features.h"

namespace nm {

constexpr int64_t kPackRows = 16;

// Whether the type has a packed layout at all (Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q8_0; the
// K-quants of matmul_packed_k.h).
bool matmul_has_packed_layout(DType w_type);
// Byte offsets of the fields in a packed group-block (-1: the type has no such field), and
// its size; the kernels take their offsets from here.
struct PackedBlockLayout {
  int64_t m = -1, qh = -1, qs = 0, bytes = 0;
};
constexpr PackedBlockLayout packed_block_layout(DType w_type) {
  const bool has_min = w_type == DType::Q4_1 || w_type == DType::Q5_1;
  const bool has_qh = w_type == DType::Q5_0 || w_type == DType::Q5_1;
  PackedBlockLayout l;
  int64_t at = kPackRows * 2;  // after d[16]
  if (has_min) { l.m = at; at += kPackRows * 2; }
  if (has_qh) { l.qh = at; at += 64; }
  l.qs = at;
  l.bytes = at + kPackRows * (w_type == DType::Q8_0 ? 32 : 16);
  return l;
}
static_assert(packed_block_layout(DType::Q5_1).bytes == kPackRows * 24);

// Whether matmul() has a packed kernel for this weight type and shape on this ISA.
bool matmul_packable(Isa isa, DType w_type, int64_t m, int64_t k);
// Bytes of the packed copy of an m x k matrix (the same as the file's bytes).
size_t matmul_packed_bytes(DType w_type, int64_t m, int64_t k);
// Writes the m rows of w (w_row_bytes apart) to dst in the packed layout. The shape must
// be packable on some ISA (m a multiple of kPackRows, a type with a packed layout).
void matmul_pack_weights(DType w_type, const void* w, size_t w_row_bytes, int64_t m, int64_t k, void* dst);

}  // namespace nm
