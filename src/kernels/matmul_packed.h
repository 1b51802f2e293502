// Row-interleaved ("packed") weight layouts for the CPU matmul. GGUF keeps each weight
// row's blocks together, so a kernel has to sum every row's products horizontally. The
// packed layout interleaves kPackRows rows block by block: one 512-bit register holds
// 4 bytes of each of 16 rows, one integer-dot instruction advances 16 output rows, and
// the results land in vector lanes, one per row. Weights are packed once when a CPU
// graph is prepared (backend/cpu/packed_weights.h); other devices keep the file layout.
//
// Q4_0, per group of 16 rows and block b, 288 bytes:
//   fp16 d[16]                       the 16 rows' block scales
//   uint8 qs[4][16][4]               qs[j][r][i] = byte 4j+i of row r's block (both nibbles)
// Q8_0, per group and block, 544 bytes:
//   fp16 d[16], uint8 qs[8][16][4]   qs[j][r][i] = row r's int8 value 4j+i, plus 128
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "kernels/cpu_features.h"

namespace nm {

constexpr int64_t kPackRows = 16;

// Whether the type has a packed layout at all (Q4_0, Q8_0; the K-quants of matmul_packed_k.h).
bool matmul_has_packed_layout(DType w_type);
// Whether matmul() has a packed kernel for this weight type and shape on this ISA.
bool matmul_packable(Isa isa, DType w_type, int64_t m, int64_t k);
// Bytes of the packed copy of an m x k matrix (the same as the file's bytes).
size_t matmul_packed_bytes(DType w_type, int64_t m, int64_t k);
// Writes the m rows of w (w_row_bytes apart) to dst in the packed layout. The shape must
// be packable on some ISA (m a multiple of kPackRows, a type with a packed layout).
void matmul_pack_weights(DType w_type, const void* w, size_t w_row_bytes, int64_t m, int64_t k, void* dst);

}  // namespace nm
