// The ISA-independent part of the packed K-quant kernels (matmul_packed_k_*.cpp): the
// PackedFn entry point, which points at the activation rows, runs one ISA's group tile over
// the row groups and picks the tile for the run-time column count; and the table from weight
// type to kernel. An ISA file supplies Tile<Layout>, whose run<NX>(nsb, group, x rows, y,
// y_stride) computes one group of 16 rows x NX columns. Include only from those files.
#pragma once

#include <array>
#include <utility>

#include "kernels/matmul_kernels.h"
#include "kernels/matmul_packed_k.h"

namespace nm {
namespace {

template <class Tile, int NX>
void packed_k_run_groups(int64_t k, const void* wp, int64_t n_groups, const void* x, size_t x_row_bytes,
                         const PackedActBlock*, int64_t, float* y, int64_t y_stride) {
  const int64_t nsb = k / QK_K;
  const BlockQ8_K* xr[NX];
  for (int c = 0; c < NX; ++c) xr[c] = reinterpret_cast<const BlockQ8_K*>(static_cast<const char*>(x) + c * x_row_bytes);
  for (int64_t g = 0; g < n_groups; ++g) {
    Tile::template run<NX>(nsb, static_cast<const uint8_t*>(wp) + g * nsb * Tile::Layout::bytes, xr,
                           y + g * kPackRows, y_stride);
  }
}

template <class Tile, int kTileN>
void packed_k_run(int64_t k, const void* wp, int64_t n_groups, const void* x, size_t x_row_bytes,
                  const PackedActBlock* act, int64_t act_stride, int nx, float* y, int64_t y_stride) {
  using Fn = void (*)(int64_t, const void*, int64_t, const void*, size_t, const PackedActBlock*, int64_t, float*,
                      int64_t);
  static constexpr auto table = []<int... I>(std::integer_sequence<int, I...>) {
    return std::array<Fn, sizeof...(I)>{&packed_k_run_groups<Tile, I + 1>...};
  }(std::make_integer_sequence<int, kTileN>{});
  table[nx - 1](k, wp, n_groups, x, x_row_bytes, act, act_stride, y, y_stride);
}

// Fills `out` with Tile<layout of w_type>, up to kTileN columns per call; false for types
// without a packed K-quant layout.
template <template <class> class Tile, int kTileN>
bool packed_k_kernel(DType w_type, PackedKernel* out) {
  switch (w_type) {
    case DType::Q2_K: out->run = packed_k_run<Tile<PackedQ2K>, kTileN>; break;
    case DType::Q3_K: out->run = packed_k_run<Tile<PackedQ3K>, kTileN>; break;
    case DType::Q4_K: out->run = packed_k_run<Tile<PackedQ4K>, kTileN>; break;
    case DType::Q5_K: out->run = packed_k_run<Tile<PackedQ5K>, kTileN>; break;
    case DType::Q6_K: out->run = packed_k_run<Tile<PackedQ6K>, kTileN>; break;
    default: return false;
  }
  out->tile_n = kTileN;
  out->offset = 0;
  return true;
}

}  // namespace
}  // namespace nm
