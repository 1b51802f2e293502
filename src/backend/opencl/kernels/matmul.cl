// matmul: d f32 [N, M, b2, b3] = b · aᵀ, a [K, N, a2, a3] (f32, f16 or a GGUF quant
// format, dequantised on the fly: fused dequantise-and-multiply), b f32 [K, M, b2, b3];
// a broadcast over dims 2, 3 (r2 = b2 / a2, r3 = b3 / a3). Arithmetic: f32 for f32
// weights; WT (quant.cl: half where the device has fp16, else f32) for f16 and quantised
// weights, with partial sums of 32 products accumulated in f32.
// One work-group of NM_WG work-items per (row n of a, NM_MR rows of b): work-items
// stride over K in blocks of 32, dequantise each block of a ONCE into registers and
// dot it with all NM_MR rows of b (prefill reads the weights M/NM_MR times, not M);
// partial sums are reduced in local memory. Needs quant.cl before it.

#define NM_MR 4

#define MATMUL_ARGS                                                                           \
  global const char *a, ulong oa, global const char *b, ulong ob, global char *d, ulong od,   \
      int K, int N, int M, int bne2, ulong anb1, ulong anb2, ulong anb3, ulong bnb1,          \
      ulong bnb2, ulong bnb3, int r2, int r3

#define MATMUL_BEGIN                                                                          \
  local float red[NM_MR][NM_WG];                                                              \
  const int n = get_group_id(0), lid = get_local_id(0);                                       \
  const int m0 = get_global_id(1) * NM_MR, i23 = get_global_id(2);                            \
  const int i2 = i23 % bne2, i3 = i23 / bne2;                                                 \
  const int nr = min(NM_MR, M - m0);                                                          \
  global const uchar* ar = (global const uchar*)(a + oa + n * anb1 + (i2 / r2) * anb2 + (i3 / r3) * anb3); \
  global const char* bbase = b + ob + m0 * bnb1 + i2 * bnb2 + i3 * bnb3;                      \
  float sum[NM_MR];                                                                           \
  for (int r = 0; r < NM_MR; ++r) sum[r] = 0.0f;

#define BROW(r) ((global const float*)(bbase + (r) * bnb1))

// Dots the 32 dequantised weights w (WT) with block `ib` of every b row: products and
// their sum in WT, added to the f32 sum.
#define MATMUL_DOT32(ib)                                                                      \
  for (int r = 0; r < nr; ++r) {                                                              \
    global const float* x = BROW(r) + (ib) * 32;                                              \
    WT s = 0;                                                                                 \
    for (int j = 0; j < 32; ++j) s = WR(s + WR(w[j] * WR((WT)x[j])));                         \
    sum[r] += (float)s;                                                                       \
  }

#define MATMUL_END                                                                            \
  for (int r = 0; r < NM_MR; ++r) red[r][lid] = sum[r];                                       \
  barrier(CLK_LOCAL_MEM_FENCE);                                                               \
  for (int s = NM_WG / 2; s > 0; s >>= 1) {                                                   \
    if (lid < s) {                                                                            \
      for (int r = 0; r < NM_MR; ++r) red[r][lid] += red[r][lid + s];                         \
    }                                                                                         \
    barrier(CLK_LOCAL_MEM_FENCE);                                                             \
  }                                                                                           \
  if (lid == 0) {                                                                             \
    for (int r = 0; r < nr; ++r) ((global float*)(d + od))[n + (long)N * (m0 + r + (long)M * i23)] = red[r][0]; \
  }

// f32 / f16 weights: any K (element-wise stride), no block structure.
kernel void matmul_f32(MATMUL_ARGS) {
  MATMUL_BEGIN
  global const float* af = (global const float*)ar;
  for (int r = 0; r < nr; ++r) {  // the row of a stays in cache across the b rows
    global const float* x = BROW(r);
    float s = 0.0f;
    for (int k = lid; k < K; k += NM_WG) s += af[k] * x[k];
    sum[r] = s;
  }
  MATMUL_END
}

// Partial sums of 32 products (in WT) at a time, accumulated in f32.
kernel void matmul_f16(MATMUL_ARGS) {
  MATMUL_BEGIN
  global const half* ah = (global const half*)ar;
  for (int r = 0; r < nr; ++r) {
    global const float* x = BROW(r);
    float s = 0.0f;
    for (int k0 = lid; k0 < K; k0 += 32 * NM_WG) {
      const int k_end = min(K, k0 + 32 * NM_WG);
      WT p = 0;
      for (int k = k0; k < k_end; k += NM_WG) p = WR(p + WR((WT)vload_half(k, ah) * WR((WT)x[k])));
      s += (float)p;
    }
    sum[r] = s;
  }
  MATMUL_END
}

// d * q is exact in f32 (fp16 scale times a small integer), rounded once in half.
kernel void matmul_q8_0(MATMUL_ARGS) {
  MATMUL_BEGIN
  for (int ib = lid; ib < K / QK; ib += NM_WG) {
    global const uchar* blk = ar + ib * 34;
    const WT dd = (WT)vload_half(0, (global const half*)blk);
    WT w[32];
    for (int j = 0; j < 32; ++j) w[j] = WR(dd * (WT)((global const char*)blk)[2 + j]);
    MATMUL_DOT32(ib)
  }
  MATMUL_END
}

kernel void matmul_q4_0(MATMUL_ARGS) {
  MATMUL_BEGIN
  for (int ib = lid; ib < K / QK; ib += NM_WG) {
    global const uchar* blk = ar + ib * 18;
    const WT dd = (WT)vload_half(0, (global const half*)blk);
    WT w[32];
    for (int j = 0; j < 16; ++j) {
      const uchar q = blk[2 + j];
      w[j] = WR(dd * (WT)((q & 0xF) - 8));
      w[j + 16] = WR(dd * (WT)((q >> 4) - 8));
    }
    MATMUL_DOT32(ib)
  }
  MATMUL_END
}

// Work-item per sub-block of 32 (8 per super-block of 256): w = d sc q - dmin m.
kernel void matmul_q4_k(MATMUL_ARGS) {
  MATMUL_BEGIN
  for (int is = lid; is < (K / QK_K) * 8; is += NM_WG) {
    global const uchar* blk = ar + (is / 8) * 144;
    const int sub = is % 8;
    WT d1, m1;
    q4_k_sub_scale(blk, sub, &d1, &m1);
    global const uchar* q = blk + 16 + (sub / 2) * 32;
    const int shift = (sub & 1) * 4;
    WT w[32];
    for (int j = 0; j < 32; ++j) w[j] = WR(WR(d1 * (WT)((q[j] >> shift) & 0xF)) - m1);
    MATMUL_DOT32(is)
  }
  MATMUL_END
}
