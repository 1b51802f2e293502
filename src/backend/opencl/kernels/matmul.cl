// matmul: d f32 [N, M, b2, b3] = b · aᵀ, a [K, N, a2, a3] (f32, f16 or a GGUF quant
// format, dequantised on the fly: fused dequantise-and-multiply), b f32 [K, M, b2, b3];
// a broadcast over dims 2, 3 (r2 = b2 / a2, r3 = b3 / a3). Arithmetic is f32.
// One work-group of NM_WG per output element: work-items stride over K (by blocks for
// quantised a), partial sums reduced in local memory. Needs quant.cl before it.

#define MATMUL_ARGS                                                                           \
  global const char *a, ulong oa, global const char *b, ulong ob, global char *d, ulong od,   \
      int K, int N, int M, int bne2, ulong anb1, ulong anb2, ulong anb3, ulong bnb1,          \
      ulong bnb2, ulong bnb3, int r2, int r3

#define MATMUL_ROWS                                                                           \
  local float red[NM_WG];                                                                     \
  const int n = get_group_id(0), lid = get_local_id(0);                                       \
  const int m = get_global_id(1), i23 = get_global_id(2);                                     \
  const int i2 = i23 % bne2, i3 = i23 / bne2;                                                 \
  global const uchar* ar = (global const uchar*)(a + oa + n * anb1 + (i2 / r2) * anb2 + (i3 / r3) * anb3); \
  global const float* br = (global const float*)(b + ob + m * bnb1 + i2 * bnb2 + i3 * bnb3);  \
  float sum = 0.0f;

#define MATMUL_STORE                                                                          \
  red[lid] = sum;                                                                             \
  barrier(CLK_LOCAL_MEM_FENCE);                                                               \
  for (int s = NM_WG / 2; s > 0; s >>= 1) {                                                   \
    if (lid < s) red[lid] += red[lid + s];                                                    \
    barrier(CLK_LOCAL_MEM_FENCE);                                                             \
  }                                                                                           \
  if (lid == 0) ((global float*)(d + od))[n + (long)N * (m + (long)M * i23)] = red[0];

kernel void matmul_f32(MATMUL_ARGS) {
  MATMUL_ROWS
  global const float* af = (global const float*)ar;
  for (int k = lid; k < K; k += NM_WG) sum += af[k] * br[k];
  MATMUL_STORE
}

kernel void matmul_f16(MATMUL_ARGS) {
  MATMUL_ROWS
  global const half* ah = (global const half*)ar;
  for (int k = lid; k < K; k += NM_WG) sum += vload_half(k, ah) * br[k];
  MATMUL_STORE
}

// One block of 32 per work-item per step: scale once, integer quants times activations.
kernel void matmul_q8_0(MATMUL_ARGS) {
  MATMUL_ROWS
  for (int ib = lid; ib < K / QK; ib += NM_WG) {
    global const uchar* blk = ar + ib * 34;
    global const char* q = (global const char*)(blk + 2);
    global const float* x = br + ib * QK;
    float s = 0.0f;
    for (int j = 0; j < QK; ++j) s += (float)q[j] * x[j];
    sum += vload_half(0, (global const half*)blk) * s;
  }
  MATMUL_STORE
}

kernel void matmul_q4_0(MATMUL_ARGS) {
  MATMUL_ROWS
  for (int ib = lid; ib < K / QK; ib += NM_WG) {
    global const uchar* blk = ar + ib * 18;
    global const float* x = br + ib * QK;
    float s = 0.0f;
    for (int j = 0; j < 16; ++j) {
      const uchar q = blk[2 + j];
      s += (float)((q & 0xF) - 8) * x[j] + (float)((q >> 4) - 8) * x[j + 16];
    }
    sum += vload_half(0, (global const half*)blk) * s;
  }
  MATMUL_STORE
}

// Work-item per sub-block of 32 (8 per super-block): d sc sum(q x) - dmin m sum(x).
kernel void matmul_q4_k(MATMUL_ARGS) {
  MATMUL_ROWS
  for (int is = lid; is < (K / QK_K) * 8; is += NM_WG) {
    global const uchar* blk = ar + (is / 8) * 144;
    const int sub = is % 8;
    float sc, mn;
    q4_k_scale_min(sub, blk + 4, &sc, &mn);
    global const uchar* q = blk + 16 + (sub / 2) * 32;
    global const float* x = br + is * 32;
    float sq = 0.0f, sx = 0.0f;
    if (sub & 1) {
      for (int j = 0; j < 32; ++j) { sq += (float)(q[j] >> 4) * x[j]; sx += x[j]; }
    } else {
      for (int j = 0; j < 32; ++j) { sq += (float)(q[j] & 0xF) * x[j]; sx += x[j]; }
    }
    sum += vload_half(0, (global const half*)blk) * sc * sq - vload_half(1, (global const half*)blk) * mn * sx;
  }
  MATMUL_STORE
}
