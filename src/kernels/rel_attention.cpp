// VITS's encoder attention: multi-head attention with relative-position key and value
// embeddings inside a window (Shaw et al. 2018; the VITS text encoder shares one table
// across heads). Sequences are phonemes of one sentence (tens to a few hundred). Each
// thread takes blocks of up to kRows queries of one head: scores Q K^T and outputs P V are
// vecmat_acc products (vec.h: SIMD, the same operations for a row however rows are grouped,
// so any thread count gives the same bits) over a per-head transposed copy of K; the
// 2 window + 1 relative terms per query are added on the side; softmax with vec.h's max /
// exp_sum. (Scalar dot products here took 5% of a Piper voice's run.)
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/ops.h"
#include "kernels/vec.h"

namespace nm::kernels {
namespace {

constexpr int64_t kRows = 16;  // queries per block

float dot(const float* a, const float* b, int64_t n) {
  float s = 0.0f;
  for (int64_t e = 0; e < n; ++e) s += a[e] * b[e];
  return s;
}

}  // namespace

Status rel_attention(const float* q, const float* k, const float* v, const float* emb_k, const float* emb_v,
                     float* out, int64_t t, int64_t n_heads, int64_t d, int64_t window, Isa isa, int ith, int nth) {
  if (t < 1 || n_heads < 1 || d < 1 || window < 0) {
    return error(ErrorCode::invalid_argument, "rel_attention: bad shape t=" + std::to_string(t) + " heads=" +
                                                  std::to_string(n_heads) + " d=" + std::to_string(d));
  }
  const VecOps& vo = vec_ops(isa);
  const int64_t c = n_heads * d;
  const float inv_sqrt_d = 1.0f / std::sqrt((float)d);
  const RowRange range = split_rows(n_heads * t, ith, nth);
  if (range.begin >= range.end) return Status::ok_status();
  std::vector<float> kt((size_t)(d * t)), qs((size_t)(kRows * d)), p((size_t)(kRows * t));
  int64_t kt_head = -1;
  for (int64_t hi = range.begin; hi < range.end;) {
    const int64_t h = hi / t, i0 = hi % t;
    const int64_t rows = std::min({kRows, t - i0, range.end - hi});
    if (kt_head != h) {  // kt[e][j] = K[j][h d + e]
      for (int64_t j = 0; j < t; ++j)
        for (int64_t e = 0; e < d; ++e) kt[(size_t)(e * t + j)] = k[j * c + h * d + e];
      kt_head = h;
    }
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t e = 0; e < d; ++e) qs[(size_t)(r * d + e)] = q[(i0 + r) * c + h * d + e] * inv_sqrt_d;
    std::fill(p.begin(), p.begin() + rows * t, 0.0f);
    vo.vecmat_acc(qs.data(), d, rows, d, kt.data(), t, t, p.data(), t);
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = i0 + r;
      float* pr = p.data() + r * t;
      for (int64_t j = std::max<int64_t>(0, i - window); j <= std::min(t - 1, i + window); ++j) {
        pr[j] += dot(qs.data() + r * d, emb_k + (j - i + window) * d, d);
      }
      const float sum = vo.exp_sum(pr, vo.max(pr, t), pr, t);
      vo.scale(1.0f / sum, pr, t);
      std::fill(out + i * c + h * d, out + i * c + (h + 1) * d, 0.0f);
    }
    vo.vecmat_acc(p.data(), t, rows, t, v + h * d, c, d, out + i0 * c + h * d, c);
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = i0 + r;
      float* o = out + i * c + h * d;
      for (int64_t j = std::max<int64_t>(0, i - window); j <= std::min(t - 1, i + window); ++j) {
        const float pj = p[(size_t)(r * t + j)];
        const float* ev = emb_v + (j - i + window) * d;
        for (int64_t e = 0; e < d; ++e) o[e] += pj * ev[e];
      }
    }
    hi += rows;
  }
  return Status::ok_status();
}

}  // namespace nm::kernels
