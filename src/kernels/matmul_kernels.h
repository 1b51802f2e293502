// Internal kernel tables behind matmul(): per weight type and ISA, the activation format,
// its quantiser and a tile kernel computing a small block of Y. Not a public API.
// Every table entry is a pure function; safe to call from any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "core/dtype.h"
#include "kernels/cpu_features.h"
#include "kernels/matmul_packed.h"

namespace nm {

// A kernel's largest register tile, as compiled. Sanitized builds (NM_SANITIZED) cap it at 2:
// the same templates with a fraction of their instances, where ASan + UBSan spent minutes on
// the x86 tile files. Every output element sums its blocks in the same order whatever the
// tile, so only speed differs.
constexpr int compiled_tile(int n) {
#ifdef NM_SANITIZED
  return n < 2 ? n : 2;
#else
  return n;
#endif
}

// Quantises one activation row of k floats into the kernel's activation format.
using QuantizeActFn = void (*)(const float* x, void* dst, int64_t k);
// y[c * y_stride + r] = dot(w row r, x row c) for r < nw, c < nx.
// w rows are w_row_bytes apart; x rows (f32 or quantised) x_row_bytes apart.
using TileFn = void (*)(int64_t k, const void* w, size_t w_row_bytes, int nw, const void* x,
                        size_t x_row_bytes, int nx, float* y, int64_t y_stride);

// Matrix-vector product: y[r] = dot(w row r, x) for r < rows (x one quantised row).
using GemvFn = void (*)(int64_t k, const void* w, size_t w_row_bytes, int64_t rows, const void* x, float* y);

struct MatmulKernel {
  DType act_type = DType::F32;      // F32: x used as is; else Q8_0, Q8_1 or Q8_K
  QuantizeActFn quantize = nullptr; // nullptr when act_type is F32
  TileFn tile = nullptr;
  GemvFn gemv = nullptr;             // optional n == 1 path; nullptr: tiles of one row
  int tile_m = 1, tile_n = 1;       // largest nw, nx the tile kernel takes
};

// Per activation row and 32-value block, what the packed kernels need besides the int8
// values: -(weight offset) * sum of the values (Q4_0: offset 8; packed Q8_0: 128), the
// block's scale as a float, and scale * sum of the values, which the weight minimums of
// Q4_1 / Q5_1 multiply (exact in float: an 11-bit scale times a 13-bit sum).
struct PackedActBlock {
  int32_t offset_sum;
  float scale;
  float sum;
};

// Packed weights (matmul_packed.h): y[c * y_stride + r] for the kPackRows * n_groups rows
// starting at the packed group wp and nx <= PackedKernel::tile_n Q8_0 activation rows
// x_row_bytes apart, whose block b has act[c * act_stride + b].
using PackedFn = void (*)(int64_t k, const void* wp, int64_t n_groups, const void* x, size_t x_row_bytes,
                          const PackedActBlock* act, int64_t act_stride, int nx, float* y, int64_t y_stride);

// The packed kernels' setup: pointers to NX activation rows and their per-block data.
template <int NX>
inline void packed_act_rows(const void* x, size_t x_row_bytes, const PackedActBlock* act, int64_t act_stride,
                            const BlockQ8_0* (&xr)[NX], const PackedActBlock* (&xa)[NX]) {
  for (int c = 0; c < NX; ++c) {
    xr[c] = reinterpret_cast<const BlockQ8_0*>(static_cast<const char*>(x) + c * x_row_bytes);
    xa[c] = act + c * act_stride;
  }
}

// A PackedFn made of a group tile: Tile::run<NX>(nb, group, xr, xa, y, y_stride) computes one
// group of kPackRows rows x NX activation rows, and Tile::kBlockBytes is its group-block
// size; the run-time column count picks the compile-time NX through a table.
template <class Tile, int NX>
void packed_groups(int64_t k, const void* wp, int64_t n_groups, const void* x, size_t x_row_bytes,
                   const PackedActBlock* act, int64_t act_stride, float* y, int64_t y_stride) {
  const int64_t nb = k / QK8_0;
  const BlockQ8_0* xr[NX];
  const PackedActBlock* xa[NX];
  packed_act_rows(x, x_row_bytes, act, act_stride, xr, xa);
  for (int64_t g = 0; g < n_groups; ++g) {
    Tile::template run<NX>(nb, static_cast<const uint8_t*>(wp) + g * nb * Tile::kBlockBytes, xr, xa,
                           y + g * kPackRows, y_stride);
  }
}
template <class Tile, int kMaxNx>
void packed_by_columns(int64_t k, const void* wp, int64_t n_groups, const void* x, size_t x_row_bytes,
                       const PackedActBlock* act, int64_t act_stride, int nx, float* y, int64_t y_stride) {
  using Fn = void (*)(int64_t, const void*, int64_t, const void*, size_t, const PackedActBlock*, int64_t, float*,
                      int64_t);
  static constexpr auto table = []<int... I>(std::integer_sequence<int, I...>) {
    return std::array<Fn, sizeof...(I)>{&packed_groups<Tile, I + 1>...};
  }(std::make_integer_sequence<int, kMaxNx>{});
  table[nx - 1](k, wp, n_groups, x, x_row_bytes, act, act_stride, y, y_stride);
}

struct PackedKernel {
  PackedFn run = nullptr;
  int tile_n = 1;
  int offset = 0;  // what each weight value carries on top of its signed value, as the kernel reads it
};

// Fills `out` with packed_by_columns<Tile, kMaxNx> and the weights' offset; returns true.
template <class Tile, int kMaxNx>
bool use_packed_tile(int offset, PackedKernel* out) {
  out->run = packed_by_columns<Tile, kMaxNx>;
  out->tile_n = kMaxNx;
  out->offset = offset;
  return true;
}

// The kernel matmul() uses for w_type on `isa` (scalar entries where the ISA has none);
// false for an unsupported type.
bool matmul_select_kernel(Isa isa, DType w_type, MatmulKernel* out);

// False when this ISA has no packed kernel for w_type.
bool select_packed_kernel(Isa isa, DType w_type, PackedKernel* out);
bool packed_kernel_avx2(DType w_type, PackedKernel* out);
bool packed_kernel_avx512(DType w_type, bool vnni, PackedKernel* out);
bool packed_kernel_neon(DType w_type, bool dotprod, PackedKernel* out);
// The K-quant layouts (matmul_packed_k.h): Q8_K activation rows, `act` unused.
bool packed_k_kernel_avx2(DType w_type, PackedKernel* out);
bool packed_k_kernel_avx512(DType w_type, bool vnni, PackedKernel* out);
bool packed_k_kernel_neon(DType w_type, bool dotprod, PackedKernel* out);

// One weight row . one activation row (f32 or quantised), as a float.
using RowDotFn = float (*)(int64_t k, const void* w, const void* x);

// A TileFn made of one row dot per output element (for paths without register tiles).
template <RowDotFn kDot>
void tile_by_rows(int64_t k, const void* w, size_t w_row_bytes, int nw, const void* x,
                  size_t x_row_bytes, int nx, float* y, int64_t y_stride) {
  for (int c = 0; c < nx; ++c) {
    const void* xc = static_cast<const char*>(x) + c * x_row_bytes;
    for (int r = 0; r < nw; ++r) {
      y[c * y_stride + r] = kDot(k, static_cast<const char*>(w) + r * w_row_bytes, xc);
    }
  }
}

// Activation format for a weight type (F32 for float weights), F64 if unsupported.
DType matmul_act_type(DType w_type);

// Scalar reference: every supported type. Returns false if w_type is unsupported.
bool matmul_kernel_scalar(DType w_type, MatmulKernel* out);
// ISA versions fill only what they accelerate and return false for the rest (the
// dispatcher then uses the scalar kernel). Defined only where compiled.
bool matmul_kernel_avx2(DType w_type, MatmulKernel* out);
bool matmul_kernel_avx512(DType w_type, bool vnni, MatmulKernel* out);
bool matmul_kernel_float_avx512(DType w_type, MatmulKernel* out);  // F32, F16, BF16 weights
bool matmul_kernel_neon(DType w_type, bool dotprod, MatmulKernel* out);

// Scalar activation quantisers, ggml's reference rounding.
void quantize_act_q8_0_scalar(const float* x, void* dst, int64_t k);
void quantize_act_q8_1_scalar(const float* x, void* dst, int64_t k);
void quantize_act_q8_k_scalar(const float* x, void* dst, int64_t k);

}  // namespace nm
