// matmul_tiled_*: the prefill / vision-encoder form of matmul (many rows of b), same
// operation and arguments as matmul.cl: d f32 [N, M, b2, b3] = b · aᵀ, a [K, N, a2, a3]
// (f32, f16 or a GGUF quant format, dequantised on the fly), b f32 [K, M, b2, b3], a
// broadcast over dims 2, 3. One work-group of 8 x 8 work-items per tile of NM_TN = 64
// rows of a x NM_TM = 64 rows of b. Per step of 32 along K the group dequantises the
// 64 x 32 slice of a ONCE into local memory (k-major: as[k][n]; each weight is
// dequantised M / 64 times in all, not M / 4 as in matmul.cl) and copies the b slice
// beside it (row-major: bs[m][k]); then every work-item accumulates an 8 x 8 register
// block, 8 consecutive rows of a as one float8 times 8 consecutive rows of b. The
// explicit vectors and the unrolled step are for CPU devices (PoCL), which do not
// vectorise across work-items inside a loop and keep values that live across a barrier
// in memory (hence the per-step partial sums). Measured with bench_opencl on PoCL.
// Arithmetic as in matmul.cl: f32 weights in f32; f16 / quantised weights and the staged
// activations in WT (quant.cl: half where the device has fp16), products summed in WT
// over one step of 32 and accumulated in f32.
// K % 32 == 0 for block formats (the host checks); f32 / f16 take any K (zero-padded).
// Needs quant.cl before it. The host launches it with local size 8 x 8, on devices whose
// work-groups reach 64 work-items and whose local memory holds the tiles (18 KiB in f32).

// Values 32 kb + 16 h + j (j < 16) of row `row` of a, dequantised; zero at k >= K. f32
// weights stay f32; the others are formed in WT (quant.cl: half where the device has it).
inline void load16_f32(global const uchar* row, int kb, int h, int K, float* w) {
  global const float* r = (global const float*)row;
  for (int j = 0; j < 16; ++j) {
    const int k = 32 * kb + 16 * h + j;
    w[j] = k < K ? r[k] : 0.0f;
  }
}

inline void load16_f16(global const uchar* row, int kb, int h, int K, WT* w) {
  global const half* r = (global const half*)row;
  for (int j = 0; j < 16; ++j) {
    const int k = 32 * kb + 16 * h + j;
    w[j] = k < K ? (WT)vload_half(k, r) : (WT)0;
  }
}

inline void load16_q8_0(global const uchar* row, int kb, int h, int K, WT* w) {
  global const uchar* blk = row + kb * 34;
  const WT dd = (WT)vload_half(0, (global const half*)blk);
  global const char* q = (global const char*)blk + 2 + 16 * h;
  for (int j = 0; j < 16; ++j) w[j] = WR(dd * (WT)q[j]);
}

// Half 0 is the low nibbles of qs[0..15], half 1 the high nibbles.
inline void load16_q4_0(global const uchar* row, int kb, int h, int K, WT* w) {
  global const uchar* blk = row + kb * 18;
  const WT dd = (WT)vload_half(0, (global const half*)blk);
  const int shift = 4 * h;
  for (int j = 0; j < 16; ++j) w[j] = WR(dd * (WT)(((blk[2 + j] >> shift) & 0xF) - 8));
}

// Sub-block kb % 8 of super-block kb / 8: w = d sc q - dmin m.
inline void load16_q4_k(global const uchar* row, int kb, int h, int K, WT* w) {
  global const uchar* blk = row + (kb / 8) * 144;
  const int sub = kb % 8;
  WT d1, m1;
  q4_k_sub_scale(blk, sub, &d1, &m1);
  global const uchar* q = blk + 16 + (sub / 2) * 32 + 16 * h;
  const int shift = (sub & 1) * 4;
  for (int j = 0; j < 16; ++j) w[j] = WR(WR(d1 * (WT)((q[j] >> shift) & 0xF)) - m1);
}

#define NM_VN 8  // rows of a per work-item: one float8
#define NM_RM 8  // rows of b per work-item
#define NM_TN (8 * NM_VN)
#define NM_TM (8 * NM_RM)
#define NM_LDB 36  // row stride of bs in floats (32 + padding)

#define MATMUL_TILED(TYPE, ET, ET8, ER, ER8, TO_F8)                                                 \
  kernel void matmul_tiled_##TYPE(                                                                  \
      global const char* a, ulong oa, global const char* b, ulong ob, global char* d, ulong od,     \
      int K, int N, int M, int bne2, ulong anb1, ulong anb2, ulong anb3, ulong bnb1, ulong bnb2,    \
      ulong bnb3, int r2, int r3) {                                                                 \
    local ET as[32][NM_TN + 4];                                                                     \
    local ET bs[NM_TM][NM_LDB];                                                                     \
    const int tx = get_local_id(0), ty = get_local_id(1), li = ty * 8 + tx;                         \
    const int n0 = get_group_id(0) * NM_TN, m0 = get_group_id(1) * NM_TM, i23 = get_global_id(2);   \
    const int i2 = i23 % bne2, i3 = i23 / bne2;                                                     \
    global const char* abase = a + oa + (i2 / r2) * anb2 + (i3 / r3) * anb3;                        \
    global const char* bbase = b + ob + i2 * bnb2 + i3 * bnb3;                                      \
    float8 acc[NM_RM];                                                                              \
    for (int j = 0; j < NM_RM; ++j) acc[j] = (float8)(0.0f);                                        \
    const int n_steps = (K + 31) / 32;                                                              \
    for (int kb = 0; kb < n_steps; ++kb) {                                                          \
      /* loaders: half-rows (16 values) of the a and b slices, 64 work-items at a time */           \
      for (int u = li; u < 2 * NM_TN; u += 64) {                                                    \
        const int lr = u >> 1, lh = u & 1, an = n0 + lr;                                            \
        ET w[16];                                                                                   \
        load16_##TYPE((global const uchar*)(abase + (long)min(an, N - 1) * anb1), kb, lh, K, w);    \
        for (int j = 0; j < 16; ++j) as[16 * lh + j][lr] = an < N ? w[j] : (ET)0;                   \
      }                                                                                             \
      for (int u = li; u < 2 * NM_TM; u += 64) {                                                    \
        const int lr = u >> 1, lh = u & 1, bm = m0 + lr, k0 = 32 * kb + 16 * lh;                    \
        global const float* brow = (global const float*)(bbase + (long)min(bm, M - 1) * bnb1);      \
        float t[16];                                                                                \
        if (bm < M && k0 + 16 <= K) {                                                               \
          vstore16(vload16(0, brow + k0), 0, t);                                                    \
        } else {                                                                                    \
          for (int j = 0; j < 16; ++j) t[j] = bm < M && k0 + j < K ? brow[k0 + j] : 0.0f;           \
        }                                                                                           \
        for (int j = 0; j < 16; ++j) bs[lr][16 * lh + j] = ER((ET)t[j]);                            \
      }                                                                                             \
      barrier(CLK_LOCAL_MEM_FENCE);                                                                 \
      ET8 part[NM_RM];                                                                              \
      for (int j = 0; j < NM_RM; ++j) part[j] = (ET8)((ET)0);                                           \
      __attribute__((opencl_unroll_hint)) for (int k = 0; k < 32; ++k) {                            \
        const ET8 av = vload8(0, &as[k][NM_VN * tx]);                                               \
        for (int j = 0; j < NM_RM; ++j) part[j] = ER8(part[j] + ER8(av * bs[NM_RM * ty + j][k]));   \
      }                                                                                             \
      for (int j = 0; j < NM_RM; ++j) acc[j] += TO_F8(part[j]);                                     \
      barrier(CLK_LOCAL_MEM_FENCE);                                                                 \
    }                                                                                               \
    global float* out = (global float*)(d + od);                                                    \
    for (int j = 0; j < NM_RM; ++j) {                                                               \
      const int m = m0 + NM_RM * ty + j;                                                            \
      float r[NM_VN];                                                                               \
      vstore8(acc[j], 0, r);                                                                        \
      for (int i = 0; i < NM_VN; ++i) {                                                             \
        const int n = n0 + NM_VN * tx + i;                                                          \
        if (m < M && n < N) out[n + (long)N * (m + (long)M * i23)] = r[i];                          \
      }                                                                                             \
    }                                                                                               \
  }

#define NM_ID(x) (x)
MATMUL_TILED(f32, float, float8, NM_ID, NM_ID, NM_ID)
MATMUL_TILED(f16, WT, WT8, WR, WR8, F8)
MATMUL_TILED(q8_0, WT, WT8, WR, WR8, F8)
MATMUL_TILED(q4_0, WT, WT8, WR, WR8, F8)
MATMUL_TILED(q4_k, WT, WT8, WR, WR8, F8)
