// Fused causal / non-causal attention with grouped KV heads and an online softmax
// (flash-attention style: one pass over kv in tiles of 64 keys keeping a running max, sum
// and output, so no n_tokens x n_kv score matrix exists). KV rows may be F32, F16 or Q8_0.
// Per key tile, the scores of all query rows of a work unit are one small matrix product
// with the transposed K tile and their outputs one with the V tile (VecOps::vecmat_acc):
// register-blocked FMAs, no horizontal sums, each K/V row converted once per unit.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/ops.h"
#include "kernels/vec.h"

namespace nm::kernels {
namespace {

constexpr int64_t kKeyTile = 64;
constexpr int64_t kMaxHeadBlock = 16;  // query heads per work unit
constexpr int64_t kMaxUnitRows = 128;  // query rows (tokens x heads) per work unit

// Q8_0 row -> f32 (x = d * q per block of 32), local so attention does not depend on
// the quant traits table being filled.
void dequant_q8_0(const BlockQ8_0* b, float* out, int64_t n) {
  for (int64_t blk = 0; blk < n / QK8_0; ++blk) {
    const float d = fp16_to_fp32(b[blk].d);
    for (int j = 0; j < QK8_0; ++j) out[blk * QK8_0 + j] = d * (float)b[blk].qs[j];
  }
}

Status check(const AttentionParams& p) {
  if (p.n_head <= 0 || p.n_head_kv <= 0 || p.n_head % p.n_head_kv != 0)
    return error(ErrorCode::invalid_argument, "attention: n_head " + std::to_string(p.n_head) +
                 " must be a positive multiple of n_head_kv " + std::to_string(p.n_head_kv));
  if (p.head_dim <= 0 || p.n_tokens < 0 || p.n_kv < 0 || p.pos0 < 0)
    return error(ErrorCode::invalid_argument, "attention: bad head_dim / n_tokens / n_kv / pos0");
  if (p.kv_type != DType::F32 && p.kv_type != DType::F16 && p.kv_type != DType::Q8_0)
    return error(ErrorCode::unsupported, std::string("attention: KV cache type ") +
                 std::string(dtype_name(p.kv_type)) + " is not supported (use f32, f16 or q8_0)");
  if (p.kv_type == DType::Q8_0 && p.head_dim % QK8_0 != 0)
    return error(ErrorCode::invalid_argument, "attention: q8_0 KV needs head_dim % 32 == 0");
  if (p.mask && p.mask_stride < p.n_kv)
    return error(ErrorCode::invalid_argument, "attention: mask_stride < n_kv");
  return Status::ok_status();
}

// One KV row as f32: in place for F32, else converted into buf.
const float* kv_row_f32(const void* base, size_t offset, DType type, int64_t d, const VecOps& vo, float* buf) {
  const char* row = static_cast<const char*>(base) + offset;
  switch (type) {
    case DType::F16: vo.f16_to_f32(reinterpret_cast<const fp16_t*>(row), buf, d); return buf;
    case DType::Q8_0: dequant_q8_0(reinterpret_cast<const BlockQ8_0*>(row), buf, d); return buf;
    default: return reinterpret_cast<const float*>(row);
  }
}

}  // namespace

// Work unit: a block of consecutive tokens x a block of query heads that share one KV
// head (grouped-query attention), so each K and V row is converted once for all of their
// rows. Blocks shrink when there would be too few units for the threads; each query row
// gets the same arithmetic whatever its unit (its scores use only the keys up to its last
// visible one, causal or unmasked, the other keys of a tile get weight exactly 0), so
// results do not depend on the thread count. Units are dealt round-robin: under a causal
// mask later tokens see more keys, so contiguous ranges would load the threads unevenly.
Status attention(const float* q, const void* k, const void* v, float* out,
                 const AttentionParams& p, Isa isa, int ith, int nth) {
  NM_RETURN_IF_ERROR(check(p));
  const VecOps& vo = vec_ops(isa);
  const int64_t d = p.head_dim, group = p.n_head / p.n_head_kv;
  const int64_t dp = (d + 15) / 16 * 16;  // padded row length of V tiles and outputs: whole vectors
  int64_t hb = group;  // heads per unit
  while (hb % 2 == 0 && (hb > kMaxHeadBlock || p.n_tokens * (p.n_head / hb) < 2 * (int64_t)nth)) hb /= 2;
  if (hb > kMaxHeadBlock) hb = 1;  // an odd group larger than the block: one head per unit
  const int64_t n_hblocks = p.n_head / hb;
  int64_t tb = std::max<int64_t>(1, std::min(p.n_tokens, kMaxUnitRows / hb));  // tokens per unit
  while (tb > 1 && (p.n_tokens + tb - 1) / tb * n_hblocks < 4 * (int64_t)nth) tb = (tb + 1) / 2;
  const int64_t n_units = (p.n_tokens + tb - 1) / tb * n_hblocks, max_rows = tb * hb;
  const size_t kv_row_bytes = row_size(p.kv_type, d);

  std::vector<float> qbuf((size_t)(max_rows * d)), kt((size_t)(d * kKeyTile)), vt((size_t)(kKeyTile * dp), 0.0f);
  std::vector<float> row((size_t)d), scores((size_t)(max_rows * kKeyTile)), acc((size_t)(max_rows * dp));
  std::vector<float> m((size_t)max_rows), l((size_t)max_rows);
  std::vector<int64_t> n_vis((size_t)max_rows);
  auto next = [&](int64_t unit) {
    return p.next_unit ? p.next_unit->fetch_add(1, std::memory_order_relaxed) : unit + nth;
  };
  for (int64_t unit = p.next_unit ? next(0) : ith; unit < n_units; unit = next(unit)) {
    const int64_t t0 = unit / n_hblocks * tb, t1 = std::min(p.n_tokens, t0 + tb);
    const int64_t h0 = unit % n_hblocks * hb, hkv = h0 / group, rows = (t1 - t0) * hb;
    int64_t unit_vis = 0;  // keys the unit's last-seeing row can see
    for (int64_t t = t0; t < t1; ++t) {
      int64_t nv = p.n_kv;
      if (p.causal && p.pos0 + t + 1 < nv) nv = p.pos0 + t + 1;
      if (p.mask) {  // keys past the row's last unmasked one add exactly nothing: skip them
        const float* mr = p.mask + t * p.mask_stride;
        while (nv > 0 && mr[nv - 1] == -INFINITY) --nv;
      }
      unit_vis = std::max(unit_vis, nv);
      for (int64_t g = 0; g < hb; ++g) {
        const int64_t r = (t - t0) * hb + g;
        n_vis[(size_t)r] = nv;
        std::copy_n(q + (t * p.n_head + h0 + g) * d, d, qbuf.data() + r * d);
      }
    }
    std::fill_n(acc.begin(), rows * dp, 0.0f);
    std::fill_n(m.begin(), rows, -INFINITY);
    std::fill_n(l.begin(), rows, 0.0f);
    for (int64_t j0 = 0; j0 < unit_vis; j0 += kKeyTile) {
      const int64_t nt = std::min(kKeyTile, unit_vis - j0);
      // K tile transposed (kt[i][jj], columns past nt zero) and V tile (vt[jj][i], padded to dp)
      if (nt < kKeyTile) std::fill(kt.begin(), kt.end(), 0.0f);
      for (int64_t jj = 0; jj < nt; ++jj) {
        const size_t off = (size_t)((j0 + jj) * p.n_head_kv + hkv) * kv_row_bytes;
        const float* kr = kv_row_f32(k, off, p.kv_type, d, vo, row.data());
        for (int64_t i = 0; i < d; ++i) kt[(size_t)(i * kKeyTile + jj)] = kr[i];
        float* vr = vt.data() + jj * dp;
        const float* vs = kv_row_f32(v, off, p.kv_type, d, vo, vr);
        if (vs != vr) std::copy_n(vs, d, vr);
      }
      std::fill_n(scores.begin(), rows * kKeyTile, 0.0f);
      vo.vecmat_acc(qbuf.data(), d, rows, d, kt.data(), kKeyTile, kKeyTile, scores.data(), kKeyTile);
      for (int64_t r = 0; r < rows; ++r) {
        float* sr = scores.data() + r * kKeyTile;
        const int64_t nr = std::max<int64_t>(0, std::min(nt, n_vis[(size_t)r] - j0));  // keys row r sees
        const float* mr = p.mask ? p.mask + (t0 + r / hb) * p.mask_stride + j0 : nullptr;
        vo.scale(p.scale, sr, nr);
        if (mr) {
          for (int64_t jj = 0; jj < nr; ++jj) sr[jj] += mr[jj];
        }
        const float tile_max = nr > 0 ? vo.max(sr, nr) : -INFINITY;
        if (!(tile_max > -INFINITY)) {  // every key of the tile is hidden from this row
          std::fill_n(sr, nt, 0.0f);
          continue;
        }
        if (tile_max > m[(size_t)r]) {  // new running max: rescale the accumulated output
          const float c = std::exp(m[(size_t)r] - tile_max);
          vo.scale(c, acc.data() + r * dp, dp);
          l[(size_t)r] *= c;
          m[(size_t)r] = tile_max;
        }
        l[(size_t)r] += vo.exp_sum(sr, m[(size_t)r], sr, nr);
        std::fill(sr + nr, sr + nt, 0.0f);
      }
      vo.vecmat_acc(scores.data(), kKeyTile, rows, nt, vt.data(), dp, dp, acc.data(), dp);
    }
    for (int64_t r = 0; r < rows; ++r) {
      float* o = out + ((t0 + r / hb) * p.n_head + h0 + r % hb) * d;
      const float inv = l[(size_t)r] > 0.0f ? 1.0f / l[(size_t)r] : 0.0f;  // no visible kv: zeros, not NaN
      for (int64_t i = 0; i < d; ++i) o[i] = acc[(size_t)(r * dp + i)] * inv;
    }
  }
  return Status::ok_status();
}

}  // namespace nm::kernels
