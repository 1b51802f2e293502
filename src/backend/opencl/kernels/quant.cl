// GGUF block formats (bit-exact with ggml) and their dequantisation, shared by the
// matmul and get_rows programs (prepended to their source by the host).
// Q4_0: 18 bytes {half d; uchar qs[16]}: x[j] = d (lo(qs[j]) - 8), x[j+16] = d (hi(qs[j]) - 8)
// Q8_0: 34 bytes {half d; char qs[32]}:  x[j] = d qs[j]
// Q4_K: 144 bytes {half d, dmin; uchar scales[12]; uchar qs[128]}, 8 sub-blocks of 32
//       with 6-bit scales and mins: x = d sc (q) - dmin m

#define QK 32
#define QK_K 256

// Arithmetic of the kernels that read f16 / quantised weights (matmul.cl,
// matmul_tiled.cl), chosen by the host's build options:
// - NM_HAS_FP16 (the device has cl_khr_fp16): weights dequantised to half, activations
//   rounded to half, products and partial sums of 32 products in half; the partial sums
//   are accumulated in f32, so long rows stay accurate;
// - NM_FP16_EMULATE (tests on devices without fp16): the same operations in f32 with each
//   result rounded to half precision (nearest even), so that the half algorithm runs and
//   is checked everywhere; half's overflow and subnormal ranges are not emulated;
// - neither: f32 throughout.
// WT / WT8: the arithmetic type of those kernels; WR / WR8: round a result to it; F8:
// WT8 to float8. f32 weights are always multiplied in f32.
#if defined(NM_HAS_FP16)
#pragma OPENCL EXTENSION cl_khr_fp16 : enable
#define NM_HALF_MATH 1
#define WT half
#define WT8 half8
#define WR(x) (x)
#define WR8(x) (x)
#define F8(x) convert_float8(x)
#elif defined(NM_FP16_EMULATE)
#define NM_HALF_MATH 1
#define WT float
#define WT8 float8
#define WR(x) nm_round_half(x)
#define WR8(x) nm_round_half8(x)
#define F8(x) (x)
// Round to 11 significant bits, nearest even (normal half range).
inline float nm_round_half(float x) {
  const uint u = as_uint(x);
  return as_float((u + 0x0FFFu + ((u >> 13) & 1u)) & 0xFFFFE000u);
}
inline float8 nm_round_half8(float8 x) {
  const uint8 u = as_uint8(x);
  return as_float8((u + (uint8)(0x0FFFu) + ((u >> 13) & (uint8)(1u))) & (uint8)(0xFFFFE000u));
}
#else
#define WT float
#define WT8 float8
#define WR(x) (x)
#define WR8(x) (x)
#define F8(x) (x)
#endif

inline float q4_0_get(global const uchar* blk, int j) {
  const float dd = vload_half(0, (global const half*)blk);
  const uchar q = blk[2 + (j & 15)];
  return dd * (float)((j < 16 ? (q & 0xF) : (q >> 4)) - 8);
}

inline float q8_0_get(global const uchar* blk, int j) {
  return vload_half(0, (global const half*)blk) * (float)((global const char*)blk)[2 + j];
}

inline void q4_k_scale_min(int j, global const uchar* q, float* sc, float* m) {
  if (j < 4) {
    *sc = (float)(q[j] & 63);
    *m = (float)(q[j + 4] & 63);
  } else {
    *sc = (float)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = (float)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// Sub-block `sub` (of 8) of a Q4_K super-block: scale d1 = d sc and offset m1 = dmin m, in WT.
inline void q4_k_sub_scale(global const uchar* blk, int sub, WT* d1, WT* m1) {
  float sc, mn;
  q4_k_scale_min(sub, blk + 4, &sc, &mn);
  *d1 = WR((WT)vload_half(0, (global const half*)blk) * (WT)sc);
  *m1 = WR((WT)vload_half(1, (global const half*)blk) * (WT)mn);
}

inline float q4_k_get(global const uchar* blk, int j) {
  const float dd = vload_half(0, (global const half*)blk);
  const float dmin = vload_half(1, (global const half*)blk);
  const int sub = j / 32;  // 8 sub-blocks of 32; pairs share 32 bytes of qs (lo, hi nibbles)
  float sc, m;
  q4_k_scale_min(sub, blk + 4, &sc, &m);
  const uchar q = blk[16 + (sub / 2) * 32 + (j & 31)];
  const int v = (sub & 1) ? (q >> 4) : (q & 0xF);
  return dd * sc * (float)v - dmin * m;
}
