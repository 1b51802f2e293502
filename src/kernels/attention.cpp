// Fused causal / non-causal attention with grouped KV heads and an online softmax
// (flash-attention style: one pass over kv in tiles of 64 keys keeping a running max, sum
// and output, so no n_tokens x n_kv score matrix exists). KV rows may be F32, F16 or Q8_0.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/ops.h"
#include "kernels/vec.h"

namespace nm::kernels {
namespace {

constexpr int64_t kKeyTile = 64;
constexpr int64_t kMaxHeadBlock = 16;  // query heads per work unit (stack arrays)

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

// Work unit: one token and a block of query heads that share one KV head (grouped-query
// attention), so each K and V row is converted once for all of them. The block is the
// whole group unless that leaves too few units for the threads; the arithmetic per head is
// the same either way, so results do not depend on the thread count.
Status attention(const float* q, const void* k, const void* v, float* out,
                 const AttentionParams& p, Isa isa, int ith, int nth) {
  NM_RETURN_IF_ERROR(check(p));
  const VecOps& vo = vec_ops(isa);
  const int64_t d = p.head_dim, group = p.n_head / p.n_head_kv;
  int64_t hb = group;  // heads per unit
  while (hb % 2 == 0 && (hb > kMaxHeadBlock || p.n_tokens * (p.n_head / hb) < 2 * (int64_t)nth)) hb /= 2;
  if (hb > kMaxHeadBlock) hb = 1;  // an odd group larger than the block: one head per unit
  const size_t kv_row_bytes = row_size(p.kv_type, d);
  // K and V rows of a tile as f32, converted tile by tile: the tile's rows are independent
  // loads (strided by the KV heads) that the core overlaps, where converting one row just
  // before its dot product left each KV-cache miss exposed (5% of decode at 256 tokens).
  std::vector<float> acc((size_t)(hb * d)), kbuf((size_t)(kKeyTile * d)), vbuf((size_t)(kKeyTile * d));
  std::vector<float> scores((size_t)(hb * kKeyTile));
  const float* krow[kKeyTile];
  const float* vrow[kKeyTile];
  std::vector<float> m((size_t)hb), l((size_t)hb), tile_max((size_t)hb);
  const RowRange r = split_rows(p.n_tokens * (p.n_head / hb), ith, nth);
  for (int64_t unit = r.begin; unit < r.end; ++unit) {
    const int64_t t = unit / (p.n_head / hb), h0 = unit % (p.n_head / hb) * hb, hkv = h0 / group;
    const float* q0 = q + (t * p.n_head + h0) * d;  // hb query rows, d apart
    const float* mr = p.mask ? p.mask + t * p.mask_stride : nullptr;
    int64_t n_vis = p.n_kv;
    if (p.causal && p.pos0 + t + 1 < n_vis) n_vis = p.pos0 + t + 1;
    std::fill(acc.begin(), acc.end(), 0.0f);
    std::fill(m.begin(), m.end(), -INFINITY);
    std::fill(l.begin(), l.end(), 0.0f);
    // Keys in tiles: scores for the tile, one rescale of the output per tile when the
    // running max grows, and the exponentials as one vector pass (exp_sum).
    for (int64_t j0 = 0; j0 < n_vis; j0 += kKeyTile) {
      const int64_t nt = std::min(kKeyTile, n_vis - j0);
      std::fill(tile_max.begin(), tile_max.end(), -INFINITY);
      for (int64_t jj = 0; jj < nt; ++jj) {
        const size_t off = (size_t)((j0 + jj) * p.n_head_kv + hkv) * kv_row_bytes;
        krow[jj] = kv_row_f32(k, off, p.kv_type, d, vo, kbuf.data() + jj * d);
      }
      for (int64_t jj = 0; jj < nt; ++jj) {
        const float bias = mr ? mr[j0 + jj] : 0.0f;
        float dots[kMaxHeadBlock];
        vo.dot_rows(q0, d, hb, krow[jj], dots, d);
        for (int64_t g = 0; g < hb; ++g) {
          const float s = dots[g] * p.scale + bias;
          scores[(size_t)(g * kKeyTile + jj)] = s;
          tile_max[(size_t)g] = std::max(tile_max[(size_t)g], s);
        }
      }
      for (int64_t g = 0; g < hb; ++g) {
        float* sg = scores.data() + g * kKeyTile;
        if (tile_max[(size_t)g] == -INFINITY) {  // every key of the tile is masked
          std::fill(sg, sg + nt, 0.0f);
          continue;
        }
        if (tile_max[(size_t)g] > m[(size_t)g]) {  // new running max: rescale the accumulated output
          const float c = std::exp(m[(size_t)g] - tile_max[(size_t)g]);
          vo.scale(c, acc.data() + g * d, d);
          l[(size_t)g] *= c;
          m[(size_t)g] = tile_max[(size_t)g];
        }
        l[(size_t)g] += vo.exp_sum(sg, m[(size_t)g], sg, nt);
      }
      for (int64_t jj = 0; jj < nt; ++jj) {
        const size_t off = (size_t)((j0 + jj) * p.n_head_kv + hkv) * kv_row_bytes;
        vrow[jj] = kv_row_f32(v, off, p.kv_type, d, vo, vbuf.data() + jj * d);
      }
      for (int64_t jj = 0; jj < nt; ++jj) {
        float w[kMaxHeadBlock];
        bool any = false;
        for (int64_t g = 0; g < hb; ++g) {
          w[g] = scores[(size_t)(g * kKeyTile + jj)];
          any = any || w[g] != 0.0f;
        }
        if (!any) continue;  // masked (or negligible) for every head of the block
        vo.axpy_rows(w, hb, vrow[jj], acc.data(), d, d);
      }
    }
    for (int64_t g = 0; g < hb; ++g) {
      float* o = out + (t * p.n_head + h0 + g) * d;
      const float inv = l[(size_t)g] > 0.0f ? 1.0f / l[(size_t)g] : 0.0f;  // no visible kv: zeros, not NaN
      for (int64_t i = 0; i < d; ++i) o[i] = acc[(size_t)(g * d + i)] * inv;
    }
  }
  return Status::ok_status();
}

}  // namespace nm::kernels
