// Scalar reference kernels for matmul(): one dot product per weight type, written to
// read like the format definitions (dequantise-in-integers, then scale). These stay as
// the reference every SIMD path is tested against.
#include "core/quants.h"
#include "kernels/matmul_kernels.h"

namespace nm {

namespace {

float h2f(fp16_t h) { return fp16_to_fp32(h); }

float as_f32(float v) { return v; }
float f16_to_f32(fp16_t v) { return fp16_to_fp32(v); }
float b16_to_f32(bf16_t v) { return bf16_to_fp32(v); }

// Float weights: converted element by element, f32 accumulation in order.
template <class T, float (*kToF32)(T)>
float dot_float(int64_t k, const void* w, const void* x) {
  const auto* a = static_cast<const T*>(w);
  const auto* b = static_cast<const float*>(x);
  float s = 0.0f;
  for (int64_t i = 0; i < k; ++i) s += kToF32(a[i]) * b[i];
  return s;
}

float dot_q4_0(int64_t k, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ4_0*>(w);
  const auto* b = static_cast<const BlockQ8_0*>(x);
  float s = 0.0f;
  for (int64_t i = 0; i < k / QK4_0; ++i) {
    int sum = 0;
    for (int j = 0; j < QK4_0 / 2; ++j) {
      sum += ((a[i].qs[j] & 0x0f) - 8) * b[i].qs[j];
      sum += ((a[i].qs[j] >> 4) - 8) * b[i].qs[j + QK4_0 / 2];
    }
    s += (float)sum * h2f(a[i].d) * h2f(b[i].d);
  }
  return s;
}

float dot_q4_1(int64_t k, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ4_1*>(w);
  const auto* b = static_cast<const BlockQ8_1*>(x);
  float s = 0.0f;
  for (int64_t i = 0; i < k / QK4_1; ++i) {
    int sum = 0;
    for (int j = 0; j < QK4_1 / 2; ++j) {
      sum += (a[i].qs[j] & 0x0f) * b[i].qs[j];
      sum += (a[i].qs[j] >> 4) * b[i].qs[j + QK4_1 / 2];
    }
    // sum_j (d_w q_j + m_w) d_x p_j = d_w d_x sum(q p) + m_w s_x
    s += (float)sum * h2f(a[i].d) * h2f(b[i].d) + h2f(a[i].m) * h2f(b[i].s);
  }
  return s;
}

// The 5-bit values of a Q5_0 / Q5_1 block: low nibbles from qs, the 5th bit of element j
// from bit j of qh.
void q5_values(const uint8_t* qs, const uint8_t* qh_bytes, int* q) {
  const uint32_t qh = (uint32_t)qh_bytes[0] | (uint32_t)qh_bytes[1] << 8 | (uint32_t)qh_bytes[2] << 16 |
                      (uint32_t)qh_bytes[3] << 24;
  for (int j = 0; j < 16; ++j) {
    q[j] = (qs[j] & 0x0f) | (int)((qh >> j) & 1) << 4;
    q[j + 16] = (qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
  }
}

float dot_q5_0(int64_t k, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ5_0*>(w);
  const auto* b = static_cast<const BlockQ8_0*>(x);
  float s = 0.0f;
  for (int64_t i = 0; i < k / QK5_0; ++i) {
    int q[QK5_0];
    q5_values(a[i].qs, a[i].qh, q);
    int sum = 0;
    for (int j = 0; j < QK5_0; ++j) sum += (q[j] - 16) * b[i].qs[j];
    s += (float)sum * h2f(a[i].d) * h2f(b[i].d);
  }
  return s;
}

float dot_q5_1(int64_t k, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ5_1*>(w);
  const auto* b = static_cast<const BlockQ8_1*>(x);
  float s = 0.0f;
  for (int64_t i = 0; i < k / QK5_1; ++i) {
    int q[QK5_1];
    q5_values(a[i].qs, a[i].qh, q);
    int sum = 0;
    for (int j = 0; j < QK5_1; ++j) sum += q[j] * b[i].qs[j];
    s += (float)sum * h2f(a[i].d) * h2f(b[i].d) + h2f(a[i].m) * h2f(b[i].s);  // as Q4_1
  }
  return s;
}

float dot_iq4_nl(int64_t k, const void* w, const void* x) {
  const auto* a = static_cast<const BlockIQ4_NL*>(w);
  const auto* b = static_cast<const BlockQ8_0*>(x);
  float s = 0.0f;
  for (int64_t i = 0; i < k / QK4_NL; ++i) {
    int sum = 0;
    for (int j = 0; j < QK4_NL / 2; ++j) {
      sum += kIq4nlValues[a[i].qs[j] & 0x0f] * b[i].qs[j];
      sum += kIq4nlValues[a[i].qs[j] >> 4] * b[i].qs[j + QK4_NL / 2];
    }
    s += (float)sum * h2f(a[i].d) * h2f(b[i].d);
  }
  return s;
}

float dot_q8_0(int64_t k, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ8_0*>(w);
  const auto* b = static_cast<const BlockQ8_0*>(x);
  float s = 0.0f;
  for (int64_t i = 0; i < k / QK8_0; ++i) {
    int sum = 0;
    for (int j = 0; j < QK8_0; ++j) sum += a[i].qs[j] * b[i].qs[j];
    s += (float)sum * h2f(a[i].d) * h2f(b[i].d);
  }
  return s;
}

// 6-bit scale and min of sub-block j (0..7) in a Q4_K / Q5_K `scales` array.
void scale_min_k4(int j, const uint8_t* q, int* sc, int* mn) {
  if (j < 4) {
    *sc = q[j] & 63;
    *mn = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
    *mn = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Q4_K / Q5_K: x = d*sc*q - dmin*mn per sub-block of 32; q from 4 low bits (+ 5th bit).
template <class Block, bool kHasHigh>
float dot_qk_45(int64_t k, const void* w, const void* x) {
  const auto* a = static_cast<const Block*>(w);
  const auto* b = static_cast<const BlockQ8_K*>(x);
  float s = 0.0f;
  for (int64_t i = 0; i < k / QK_K; ++i) {
    int sum_q = 0, sum_m = 0;
    for (int sb = 0; sb < 8; ++sb) {
      int sc, mn;
      scale_min_k4(sb, a[i].scales, &sc, &mn);
      const uint8_t* ql = a[i].qs + (sb / 2) * 32;
      const int shift = (sb % 2) * 4;
      int dot = 0;
      for (int l = 0; l < 32; ++l) {
        int q = (ql[l] >> shift) & 0x0f;
        if constexpr (kHasHigh) q |= ((a[i].qh[l] >> sb) & 1) << 4;
        dot += q * b[i].qs[sb * 32 + l];
      }
      sum_q += sc * dot;
      sum_m += mn * (b[i].bsums[2 * sb] + b[i].bsums[2 * sb + 1]);
    }
    s += b[i].d * (h2f(a[i].d) * (float)sum_q - h2f(a[i].dmin) * (float)sum_m);
  }
  return s;
}

// Q2_K: x = d*(sc&15)*q - dmin*(sc>>4) per sub-block of 16, q 2 bits.
float dot_q2_k(int64_t k, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ2_K*>(w);
  const auto* b = static_cast<const BlockQ8_K*>(x);
  float s = 0.0f;
  for (int64_t i = 0; i < k / QK_K; ++i) {
    int sum_q = 0, sum_m = 0;
    for (int sb = 0; sb < 16; ++sb) {
      int dot = 0;
      for (int l = 0; l < 16; ++l) dot += q2_bits(a[i].qs, 16 * sb + l) * b[i].qs[16 * sb + l];
      sum_q += (a[i].scales[sb] & 15) * dot;
      sum_m += (a[i].scales[sb] >> 4) * b[i].bsums[sb];
    }
    s += b[i].d * (h2f(a[i].d) * (float)sum_q - h2f(a[i].dmin) * (float)sum_m);
  }
  return s;
}

// Q3_K: x = d*(sc-32)*(q-4) per sub-block of 16, q = 2 bits + a high bit from hmask.
float dot_q3_k(int64_t k, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ3_K*>(w);
  const auto* b = static_cast<const BlockQ8_K*>(x);
  float s = 0.0f;
  for (int64_t i = 0; i < k / QK_K; ++i) {
    int sum = 0;
    for (int sb = 0; sb < 16; ++sb) {
      int dot = 0;
      for (int l = 0; l < 16; ++l) {
        const int v = 16 * sb + l;
        const int q = q2_bits(a[i].qs, v) + 4 * ((a[i].hmask[v % 32] >> (v / 32)) & 1) - 4;
        dot += q * b[i].qs[v];
      }
      sum += q3_scale(a[i].scales, sb) * dot;
    }
    s += b[i].d * h2f(a[i].d) * (float)sum;
  }
  return s;
}

// Q6_K: x = d*sc*(q-32), 16 sub-blocks of 16; q = 4 bits of ql + 2 bits of qh.
float dot_q6_k(int64_t k, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ6_K*>(w);
  const auto* b = static_cast<const BlockQ8_K*>(x);
  float s = 0.0f;
  for (int64_t i = 0; i < k / QK_K; ++i) {
    int q[QK_K];
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = a[i].ql + half * 64;
      const uint8_t* qh = a[i].qh + half * 32;
      int* o = q + half * 128;
      for (int l = 0; l < 32; ++l) {
        o[l] = ((ql[l] & 0x0f) | ((qh[l] >> 0) & 3) << 4) - 32;
        o[l + 32] = ((ql[l + 32] & 0x0f) | ((qh[l] >> 2) & 3) << 4) - 32;
        o[l + 64] = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
        o[l + 96] = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
      }
    }
    int sum = 0;
    for (int sb = 0; sb < 16; ++sb) {
      int dot = 0;
      for (int l = 0; l < 16; ++l) dot += q[sb * 16 + l] * b[i].qs[sb * 16 + l];
      sum += a[i].scales[sb] * dot;
    }
    s += b[i].d * h2f(a[i].d) * (float)sum;
  }
  return s;
}

}  // namespace

DType matmul_act_type(DType w_type) {
  switch (w_type) {
    case DType::F32: case DType::F16: case DType::BF16: return DType::F32;
    case DType::Q4_0: case DType::Q5_0: case DType::Q8_0: case DType::IQ4_NL: return DType::Q8_0;
    case DType::Q4_1: case DType::Q5_1: return DType::Q8_1;
    case DType::Q2_K: case DType::Q3_K: case DType::Q4_K: case DType::Q5_K: case DType::Q6_K: return DType::Q8_K;
    default: return DType::F64;
  }
}

bool matmul_kernel_scalar(DType w_type, MatmulKernel* out) {
  TileFn tile = nullptr;
  switch (w_type) {
    case DType::F32: tile = tile_by_rows<dot_float<float, as_f32>>; break;
    case DType::F16: tile = tile_by_rows<dot_float<fp16_t, f16_to_f32>>; break;
    case DType::BF16: tile = tile_by_rows<dot_float<bf16_t, b16_to_f32>>; break;
    case DType::Q4_0: tile = tile_by_rows<dot_q4_0>; break;
    case DType::Q4_1: tile = tile_by_rows<dot_q4_1>; break;
    case DType::Q5_0: tile = tile_by_rows<dot_q5_0>; break;
    case DType::Q5_1: tile = tile_by_rows<dot_q5_1>; break;
    case DType::IQ4_NL: tile = tile_by_rows<dot_iq4_nl>; break;
    case DType::Q8_0: tile = tile_by_rows<dot_q8_0>; break;
    case DType::Q2_K: tile = tile_by_rows<dot_q2_k>; break;
    case DType::Q3_K: tile = tile_by_rows<dot_q3_k>; break;
    case DType::Q4_K: tile = tile_by_rows<dot_qk_45<BlockQ4_K, false>>; break;
    case DType::Q5_K: tile = tile_by_rows<dot_qk_45<BlockQ5_K, true>>; break;
    case DType::Q6_K: tile = tile_by_rows<dot_q6_k>; break;
    default: return false;
  }
  MatmulKernel kern;
  kern.act_type = matmul_act_type(w_type);
  switch (kern.act_type) {
    case DType::Q8_0: kern.quantize = quantize_act_q8_0_scalar; break;
    case DType::Q8_1: kern.quantize = quantize_act_q8_1_scalar; break;
    case DType::Q8_K: kern.quantize = quantize_act_q8_k_scalar; break;
    default: break;
  }
  kern.tile = tile;
  kern.tile_m = 4;
  kern.tile_n = 4;
  *out = kern;
  return true;
}

}  // namespace nm
