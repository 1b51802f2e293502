// GGUF block formats (bit-exact with ggml) and their dequantisation, shared by the
// matmul and get_rows programs (prepended to their source by the host).
// Q4_0: 18 bytes {half d; uchar qs[16]}: x[j] = d (lo(qs[j]) - 8), x[j+16] = d (hi(qs[j]) - 8)
// Q8_0: 34 bytes {half d; char qs[32]}:  x[j] = d qs[j]
// Q4_K: 144 bytes {half d, dmin; uchar scales[12]; uchar qs[128]}, 8 sub-blocks of 32
//       with 6-bit scales and mins: x = d sc (q) - dmin m

#define QK 32
#define QK_K 256

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
