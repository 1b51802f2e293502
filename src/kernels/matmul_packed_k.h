// Row-interleaved ("packed") layouts of the K-quant weight types for the CPU matmul (the
// idea and the 16-row groups are those of matmul_packed.h). Per group of kPackRows rows and
// super-block of 256 values the group's blocks become one record of the same size (a packed
// weight replaces the file's bytes one for one), in which every field is interleaved across
// the 16 rows: a "chunk" is 4 bytes of one row, and the 16 rows' copies of a chunk are 64
// contiguous bytes, one 512-bit register (or four 128-bit ones) whose int32 lanes are the
// rows. An integer-dot instruction with 4 activation bytes broadcast then advances 16 output
// rows, and a sub-block's scales for the 16 rows are one register too.
//
// Notation: [a][b] is an array of a x b; "r" is the row in the group.
// Q2_K, 1344 bytes: fp16 d[16], fp16 dmin[16], uint8 scales[8][16][2] (row r's scale bytes 2p
//   and 2p+1: scale | min << 4), uint8 qs[16][16][4] (chunk c of row r's qs).
// Q3_K, 1760 bytes: fp16 d[16], uint8 scales[12][16] (byte b of row r's 12), uint8
//   hmask[8][16][4] (chunk c of row r's hmask), uint8 qs[16][16][4] (chunk c of row r's qs).
// Q4_K, 2304 bytes: fp16 d[16], fp16 dmin[16], uint8 scales[12][16] (byte b of row r's 12
//   packed 6-bit scales and mins), uint8 qs[32][16][4] (chunk c of row r's qs: bytes 4c..4c+3;
//   the low nibbles of chunk 8p + t are values 64p + 4t.., the high ones 64p + 32 + 4t..).
// Q5_K, 2816 bytes: d, dmin, scales as Q4_K, uint8 qh[8][16][4] (chunk t of row r's qh: bit j
//   of its byte i is the 5th bit of value 32j + 4t + i), then qs as Q4_K.
// Q6_K, 3360 bytes: fp16 d[16], int8 scales[8][16][2] (row r's scales 2p and 2p+1),
//   uint8 ql[32][16][4] (chunk c of row r's ql), uint8 qh[16][16][4] (chunk c of row r's qh).
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "kernels/matmul_packed.h"

namespace nm {

// Byte offsets of the fields in one packed group x super-block record, and where the kernels
// find value chunk ci (values 4ci..4ci+3 of the 16 rows): its low bits are bits lo_shift(ci)..
// (lo_mask wide) of the 64 bytes at lo_chunk(ci); formats with more bits (hi_mask != 0) have
// the rest at bit hi_shift(ci) of the 64 bytes at hi_chunk(ci), to go to bit hi_pos.
struct PackedQ2K {
  static constexpr int64_t d = 0, dmin = 32, scales = 64, qs = 320, bytes = 1344;
  // value 4ci = 128n + 32j + 4t: bits 2j of qs chunk 8n + t
  static constexpr int64_t lo_chunk(int ci) { return qs + (8 * (ci / 32) + ci % 8) * 64; }
  static constexpr int lo_shift(int ci) { return ci % 32 / 8 * 2; }
  static constexpr int lo_mask = 0x03, hi_mask = 0, hi_pos = 0;
  static constexpr int64_t hi_chunk(int) { return 0; }
  static constexpr int hi_shift(int) { return 0; }
};
struct PackedQ3K {
  static constexpr int64_t d = 0, scales = 32, hmask = 224, qs = 736, bytes = 1760;
  static constexpr int64_t lo_chunk(int ci) { return qs + (8 * (ci / 32) + ci % 8) * 64; }
  static constexpr int lo_shift(int ci) { return ci % 32 / 8 * 2; }
  // the third bit: bit ci / 8 of hmask chunk ci % 8
  static constexpr int lo_mask = 0x03, hi_mask = 0x04, hi_pos = 2;
  static constexpr int64_t hi_chunk(int ci) { return hmask + ci % 8 * 64; }
  static constexpr int hi_shift(int ci) { return ci / 8; }
};
struct PackedQ4K {
  static constexpr int64_t d = 0, dmin = 32, scales = 64, qs = 256, bytes = 2304;
  // sub-block ci / 8 (32 values) is nibble (ci / 8) % 2 of qs chunk 8 * (ci / 16) + ci % 8
  static constexpr int64_t lo_chunk(int ci) { return qs + (8 * (ci / 16) + ci % 8) * 64; }
  static constexpr int lo_shift(int ci) { return ci / 8 % 2 * 4; }
  static constexpr int lo_mask = 0x0f, hi_mask = 0, hi_pos = 4;
  static constexpr int64_t hi_chunk(int) { return 0; }
  static constexpr int hi_shift(int) { return 0; }
};
struct PackedQ5K {
  static constexpr int64_t d = 0, dmin = 32, scales = 64, qh = 256, qs = 768, bytes = 2816;
  static constexpr int64_t lo_chunk(int ci) { return qs + (8 * (ci / 16) + ci % 8) * 64; }
  static constexpr int lo_shift(int ci) { return ci / 8 % 2 * 4; }
  // the 5th bit: bit ci / 8 of qh chunk ci % 8
  static constexpr int lo_mask = 0x0f, hi_mask = 0x10, hi_pos = 4;
  static constexpr int64_t hi_chunk(int ci) { return qh + ci % 8 * 64; }
  static constexpr int hi_shift(int ci) { return ci / 8; }
};
struct PackedQ6K {
  static constexpr int64_t d = 0, scales = 32, ql = 288, qh = 2336, bytes = 3360;
  // value 4ci = 128h + 32q + 4t: nibble q / 2 of ql chunk 16h + 8(q % 2) + t, and bits 2q,
  // 2q + 1 of qh chunk 8h + t (the top two of the six)
  static constexpr int64_t lo_chunk(int ci) { return ql + (16 * (ci / 32) + 8 * (ci / 8 % 2) + ci % 8) * 64; }
  static constexpr int lo_shift(int ci) { return ci / 16 % 2 * 4; }
  static constexpr int lo_mask = 0x0f, hi_mask = 0x30, hi_pos = 4;
  static constexpr int64_t hi_chunk(int ci) { return qh + (8 * (ci / 32) + ci % 8) * 64; }
  static constexpr int hi_shift(int ci) { return ci / 8 % 4 * 2; }
};

inline bool kquant_has_packed_layout(DType w_type) {
  switch (w_type) {
    case DType::Q2_K: case DType::Q3_K: case DType::Q4_K: case DType::Q5_K: case DType::Q6_K: return true;
    default: return false;
  }
}

// Writes the m rows (m a multiple of 16) of a K-quant matrix to dst in the packed layout.
void pack_kquant_weights(DType w_type, const void* w, size_t w_row_bytes, int64_t m, int64_t k, void* dst);

}  // namespace nm
