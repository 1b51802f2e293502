#include "bricks/kv_cache.h"

#include <string>

namespace nm {

Result<KvCache> KvCache::create(const KvCacheShape& s) {
  if (s.n_layer <= 0 || s.n_ctx <= 0 || s.n_head_kv <= 0 || s.head_dim <= 0) {
    return error(ErrorCode::invalid_argument, "KV cache: every dimension must be positive");
  }
  if (s.type != DType::F16 && s.type != DType::F32 && s.type != DType::Q8_0) {
    return error(ErrorCode::invalid_argument,
                 "KV cache type must be f16, f32 or q8_0, not " + std::string(dtype_name(s.type)));
  }
  const int64_t row = (int64_t)s.n_head_kv * s.head_dim;
  if (s.head_dim % block_size(s.type) != 0) {
    return error(ErrorCode::invalid_argument, "KV cache type " + std::string(dtype_name(s.type)) +
                                                  " needs a head size that is a multiple of " +
                                                  std::to_string(block_size(s.type)));
  }
  KvCache c;
  c.shape_ = s;
  c.token_bytes_ = row_size(s.type, row);
  c.layer_bytes_ = c.token_bytes_ * (size_t)s.n_ctx;
  NM_ASSIGN_OR_RETURN(c.k_, VirtualBuffer::reserve(c.layer_bytes_ * (size_t)s.n_layer));
  NM_ASSIGN_OR_RETURN(c.v_, VirtualBuffer::reserve(c.layer_bytes_ * (size_t)s.n_layer));
  return c;
}

void KvCache::truncate(int n) {
  const bool shrinks = n < n_tokens_;
  if (shrinks) n_tokens_ = n < 0 ? 0 : n;
  if (n_tokens_ == 0) {
    k_.release_from(0);
    v_.release_from(0);
  } else if (shrinks) {
    // Each layer's positions from n on (the whole pages among them): a conversation cut
    // back to a shared opening (on-demand residency keeps it) holds only that opening.
    const size_t from = (size_t)n_tokens_ * token_bytes_;
    for (int l = 0; l < shape_.n_layer; ++l) {
      k_.release_range((size_t)l * layer_bytes_ + from, layer_bytes_ - from);
      v_.release_range((size_t)l * layer_bytes_ + from, layer_bytes_ - from);
    }
  }
}

Tensor KvCache::view(const VirtualBuffer& buf, int layer) const {
  Tensor t;
  t.type = shape_.type;
  t.ne = {shape_.head_dim, shape_.n_head_kv, shape_.n_ctx, 1};
  t.nb[0] = type_traits(shape_.type)->type_size;
  t.nb[1] = row_size(shape_.type, shape_.head_dim);
  t.nb[2] = token_bytes_;
  t.nb[3] = layer_bytes_;
  t.data = static_cast<char*>(buf.data()) + (size_t)layer * layer_bytes_;
  return t;
}

Status KvCache::write_rows(VirtualBuffer& buf, int layer, int pos, int n, const float* rows) {
  const TypeTraits* tt = type_traits(shape_.type);
  if (!tt->from_float) return error(ErrorCode::internal, "no converter to " + std::string(tt->name));
  const int64_t row = (int64_t)shape_.n_head_kv * shape_.head_dim;
  char* dst = static_cast<char*>(buf.data()) + (size_t)layer * layer_bytes_ + (size_t)pos * token_bytes_;
  for (int i = 0; i < n; ++i) tt->from_float(rows + (size_t)i * row, dst + (size_t)i * token_bytes_, row);
  return Status();
}

Status KvCache::write(int layer, int pos, int n, const float* k_rows, const float* v_rows) {
  if (layer < 0 || layer >= shape_.n_layer) return error(ErrorCode::internal, "KV cache: bad layer");
  if (pos < 0 || n < 0 || pos + n > shape_.n_ctx) {
    return error(ErrorCode::out_of_range, "context is full: " + std::to_string(pos + n) + " tokens > n_ctx " +
                                              std::to_string(shape_.n_ctx));
  }
  NM_RETURN_IF_ERROR(write_rows(k_, layer, pos, n, k_rows));
  return write_rows(v_, layer, pos, n, v_rows);
}

}  // namespace nm
