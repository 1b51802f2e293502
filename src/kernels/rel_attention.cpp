// VITS's encoder attention: multi-head attention with relative-position key and value
// embeddings inside a window (Shaw et al. 2018; the VITS text encoder shares one table
// across heads). Sequences are phonemes of one sentence (tens to a few hundred), so each
// (head, query) pair computes its score row directly, with a stable softmax.
#include <cmath>
#include <string>
#include <vector>

#include "kernels/ops.h"

namespace nm::kernels {

Status rel_attention(const float* q, const float* k, const float* v, const float* emb_k, const float* emb_v,
                     float* out, int64_t t, int64_t n_heads, int64_t d, int64_t window, int ith, int nth) {
  if (t < 1 || n_heads < 1 || d < 1 || window < 0) {
    return error(ErrorCode::invalid_argument, "rel_attention: bad shape t=" + std::to_string(t) + " heads=" +
                                                  std::to_string(n_heads) + " d=" + std::to_string(d));
  }
  const int64_t c = n_heads * d;
  const float inv_sqrt_d = 1.0f / std::sqrt((float)d);
  std::vector<float> p((size_t)t), qs((size_t)d);
  const RowRange r = split_rows(n_heads * t, ith, nth);
  for (int64_t hi = r.begin; hi < r.end; ++hi) {
    const int64_t h = hi / t, i = hi % t;
    const float* qi = q + i * c + h * d;
    for (int64_t e = 0; e < d; ++e) qs[(size_t)e] = qi[e] * inv_sqrt_d;
    float mx = -INFINITY;
    for (int64_t j = 0; j < t; ++j) {
      const float* kj = k + j * c + h * d;
      float s = 0.0f;
      for (int64_t e = 0; e < d; ++e) s += qs[(size_t)e] * kj[e];
      const int64_t rel = j - i;
      if (rel >= -window && rel <= window) {
        const float* ek = emb_k + (rel + window) * d;
        float sr = 0.0f;
        for (int64_t e = 0; e < d; ++e) sr += qs[(size_t)e] * ek[e];
        s += sr;
      }
      p[(size_t)j] = s;
      mx = s > mx ? s : mx;
    }
    float sum = 0.0f;
    for (int64_t j = 0; j < t; ++j) {
      p[(size_t)j] = std::exp(p[(size_t)j] - mx);
      sum += p[(size_t)j];
    }
    const float inv = 1.0f / sum;
    float* o = out + i * c + h * d;
    for (int64_t e = 0; e < d; ++e) o[e] = 0.0f;
    for (int64_t j = 0; j < t; ++j) {
      const float pj = p[(size_t)j] * inv;
      const float* vj = v + j * c + h * d;
      for (int64_t e = 0; e < d; ++e) o[e] += pj * vj[e];
      const int64_t rel = j - i;
      if (rel >= -window && rel <= window) {
        const float* ev = emb_v + (rel + window) * d;
        for (int64_t e = 0; e < d; ++e) o[e] += pj * ev[e];
      }
    }
  }
  return Status::ok_status();
}

}  // namespace nm::kernels
