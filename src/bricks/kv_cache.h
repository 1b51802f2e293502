// KvCache: keys and values of past tokens for every layer of a decoder, one sequence.
// Layout per layer: [n_ctx][n_head_kv][head_dim] in F16 (default), Q8_0 or F32, so a
// token's K (or V) for all heads is one contiguous run. Memory is reserved for the
// whole context but only touched pages become resident, so it grows with use.
// Not thread-safe; the text brick owns one per conversation.
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "core/virtual_buffer.h"

namespace nm {

struct KvCacheShape {
  int n_layer = 0;
  int n_ctx = 0;
  int n_head_kv = 0;
  int head_dim = 0;
  DType type = DType::F16;
};

class KvCache {
 public:
  static Result<KvCache> create(const KvCacheShape& shape);

  const KvCacheShape& shape() const { return shape_; }
  // Tokens currently held (positions 0 .. n_tokens-1).
  int n_tokens() const { return n_tokens_; }
  void set_n_tokens(int n) { n_tokens_ = n; }
  // Drops everything from position n on (and gives those pages back: the whole pages of
  // each layer's positions from n on).
  void truncate(int n);
  void clear() { truncate(0); }

  // Views over the whole capacity: ne = {head_dim, n_head_kv, n_ctx}.
  Tensor k(int layer) const { return view(k_, layer); }
  Tensor v(int layer) const { return view(v_, layer); }
  size_t layer_bytes() const { return layer_bytes_; }
  size_t token_bytes() const { return token_bytes_; }

  // Converts n f32 rows (each n_head_kv*head_dim values) into positions pos..pos+n-1.
  Status write(int layer, int pos, int n, const float* k_rows, const float* v_rows);

 private:
  Tensor view(const VirtualBuffer& buf, int layer) const;
  Status write_rows(VirtualBuffer& buf, int layer, int pos, int n, const float* rows);

  KvCacheShape shape_;
  size_t token_bytes_ = 0;  // one token, all heads
  size_t layer_bytes_ = 0;
  VirtualBuffer k_, v_;
  int n_tokens_ = 0;
};

}  // namespace nm
