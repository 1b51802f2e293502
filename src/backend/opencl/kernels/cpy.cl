// cpy / cont: element-wise copy between any strides (nb in bytes), converting f32 <-> f16
// (f16 stores round to nearest even), and f32 -> q8_0 (a quantised KV cache). One
// work-item per element (per block for q8_0); n = ne0*ne1*ne2*ne3 < 2^31 (the host
// checks), so index math is 32-bit.
#define CPY_INDEX                                                                   \
  const int i = get_global_id(0);                                                   \
  if (i >= ne0 * ne1 * ne2 * ne3) return;                                           \
  const int i0 = i % ne0, ra = i / ne0, i1 = ra % ne1, rb = ra / ne1;                \
  const int i2 = rb % ne2, i3 = rb / ne2;                                           \
  /* same element in dst: linear index over dst's shape */                          \
  const int j0 = i % dne0, rc = i / dne0, j1 = rc % dne1, rd = rc / dne1;            \
  const int j2 = rd % dne2, j3 = rd / dne2;                                         \
  global const char* sp = s + os + i0 * snb0 + i1 * snb1 + i2 * snb2 + i3 * snb3;  \
  global char* dp = d + od + j0 * dnb0 + j1 * dnb1 + j2 * dnb2 + j3 * dnb3;

#define CPY_ARGS                                                                                  \
  global const char *s, ulong os, global char *d, ulong od, int ne0, int ne1, int ne2, int ne3,   \
      ulong snb0, ulong snb1, ulong snb2, ulong snb3, int dne0, int dne1, int dne2, int dne3,     \
      ulong dnb0, ulong dnb1, ulong dnb2, ulong dnb3

kernel void cpy_f32_f32(CPY_ARGS) {
  CPY_INDEX
  *(global float*)dp = *(global const float*)sp;
}
kernel void cpy_f32_f16(CPY_ARGS) {
  CPY_INDEX
  vstore_half_rte(*(global const float*)sp, 0, (global half*)dp);
}
kernel void cpy_f16_f32(CPY_ARGS) {
  CPY_INDEX
  *(global float*)dp = vload_half(0, (global const half*)sp);
}
kernel void cpy_f16_f16(CPY_ARGS) {
  CPY_INDEX
  *(global ushort*)dp = *(global const ushort*)sp;
}

// f32 -> q8_0, src and dst of the same shape (the graph checks), dst rows dense, ne0 a
// multiple of 32: one work-item per block. ggml's quantize_row_q8_0: d = amax / 127,
// q = round(x / d) (halves away from zero), d stored as f16 (round to nearest even).
kernel void cpy_f32_q8_0(CPY_ARGS) {
  const int nb = ne0 / 32;
  const int i = get_global_id(0);
  if (i >= nb * ne1 * ne2 * ne3) return;
  const int ib = i % nb, r = i / nb, i1 = r % ne1, i2 = (r / ne1) % ne2, i3 = r / (ne1 * ne2);
  global const char* sp = s + os + ib * 32 * snb0 + i1 * snb1 + i2 * snb2 + i3 * snb3;
  global char* dp = d + od + i1 * dnb1 + i2 * dnb2 + i3 * dnb3 + ib * 34;
  float x[32];
  float amax = 0.0f;
  for (int j = 0; j < 32; ++j) {
    x[j] = *(global const float*)(sp + j * snb0);
    amax = fmax(amax, fabs(x[j]));
  }
  const float dd = amax / 127.0f;
  const float id = dd != 0.0f ? 1.0f / dd : 0.0f;
  vstore_half_rte(dd, 0, (global half*)dp);
  for (int j = 0; j < 32; ++j) dp[2 + j] = (char)(int)round(x[j] * id);
}

// concat along `dim` of contiguous a and b (same element size: 4 or 2 bytes); out
// contiguous [ne0..ne3]; a_dim = a.ne[dim].
kernel void concat(global const char* a, ulong oa, global const char* b, ulong ob, global char* d, ulong od,
                   int ne0, int ne1, int ne2, int ne3, int dim, int a_dim, int esize) {
  const long i = get_global_id(0);
  if (i >= (long)ne0 * ne1 * ne2 * ne3) return;
  int idx[4] = {(int)(i % ne0), (int)((i / ne0) % ne1), (int)((i / ((long)ne0 * ne1)) % ne2), (int)(i / ((long)ne0 * ne1 * ne2))};
  int sne[4] = {ne0, ne1, ne2, ne3};
  global const char* s = a + oa;
  if (idx[dim] >= a_dim) {
    idx[dim] -= a_dim;
    sne[dim] -= a_dim;
    s = b + ob;
  } else {
    sne[dim] = a_dim;
  }
  const long j = idx[0] + (long)sne[0] * (idx[1] + (long)sne[1] * (idx[2] + (long)sne[2] * idx[3]));
  if (esize == 4) ((global uint*)(d + od))[i] = ((global const uint*)s)[j];
  else ((global ushort*)(d + od))[i] = ((global const ushort*)s)[j];
}
