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

}  // namespace

Status attention(const float* q, const void* k, const void* v, float* out,
                 const AttentionParams& p, Isa isa, int ith, int nth) {
  NM_RETURN_IF_ERROR(check(p));
  const VecOps& vo = vec_ops(isa);
  const int64_t d = p.head_dim, group = p.n_head / p.n_head_kv;
  const size_t kv_row_bytes = row_size(p.kv_type, d);
  std::vector<float> acc(d), kbuf(d), vbuf(d), scores(kKeyTile);
  const RowRange r = split_rows(p.n_tokens * p.n_head, ith, nth);
  for (int64_t th = r.begin; th < r.end; ++th) {
    const int64_t t = th / p.n_head, h = th % p.n_head, hkv = h / group;
    const float* qr = q + th * d;
    const float* mr = p.mask ? p.mask + t * p.mask_stride : nullptr;
    int64_t n_vis = p.n_kv;
    if (p.causal && p.pos0 + t + 1 < n_vis) n_vis = p.pos0 + t + 1;
    float m = -INFINITY, l = 0.0f;
    for (int64_t i = 0; i < d; ++i) acc[i] = 0.0f;
    // Keys in tiles: scores for the tile, one rescale of the output per tile when the
    // running max grows, and the exponentials as one vector pass (exp_sum).
    for (int64_t j0 = 0; j0 < n_vis; j0 += kKeyTile) {
      const int64_t nt = std::min(kKeyTile, n_vis - j0);
      float tile_max = -INFINITY;
      for (int64_t jj = 0; jj < nt; ++jj) {
        const char* kr = (const char*)k + (size_t)((j0 + jj) * p.n_head_kv + hkv) * kv_row_bytes;
        float s;
        switch (p.kv_type) {
          case DType::F16: s = vo.dot_f16(qr, (const fp16_t*)kr, d); break;
          case DType::Q8_0: dequant_q8_0((const BlockQ8_0*)kr, kbuf.data(), d); s = vo.dot(qr, kbuf.data(), d); break;
          default: s = vo.dot(qr, (const float*)kr, d); break;
        }
        s = s * p.scale + (mr ? mr[j0 + jj] : 0.0f);
        scores[(size_t)jj] = s;
        tile_max = std::max(tile_max, s);
      }
      if (tile_max == -INFINITY) continue;  // every key of the tile is masked
      if (tile_max > m) {  // new running max: rescale what was accumulated under the old one
        const float c = std::exp(m - tile_max);
        vo.scale(c, acc.data(), d);
        l *= c;
        m = tile_max;
      }
      l += vo.exp_sum(scores.data(), m, scores.data(), nt);
      for (int64_t jj = 0; jj < nt; ++jj) {
        const float w = scores[(size_t)jj];
        if (w == 0.0f) continue;  // masked (or negligible) key
        const char* vr = (const char*)v + (size_t)((j0 + jj) * p.n_head_kv + hkv) * kv_row_bytes;
        switch (p.kv_type) {
          case DType::F16: vo.axpy_f16(w, (const fp16_t*)vr, acc.data(), d); break;
          case DType::Q8_0: dequant_q8_0((const BlockQ8_0*)vr, vbuf.data(), d); vo.axpy(w, vbuf.data(), acc.data(), d); break;
          default: vo.axpy(w, (const float*)vr, acc.data(), d); break;
        }
      }
    }
    float* o = out + th * d;
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;  // no visible kv: zeros, not NaN
    for (int64_t i = 0; i < d; ++i) o[i] = acc[i] * inv;
  }
  return Status::ok_status();
}

}  // namespace nm::kernels
