// attention: out f32 [Dv, H, T, B] = softmax(scale q kᵀ + mask) v per (token t, head h,
// batch b), with online softmax (running max and sum): no T x n_kv matrix is stored.
// q f32 [D, T, H, B], k [D, n_kv, Hkv, B], v [Dv, n_kv, Hkv, B] (f32 or f16 with any
// byte strides, or q8_0 with dense rows: a quantised KV cache), head h reads kv head
// h / (H / Hkv); mask optional [n_kv, >= T] f32/f16. Needs quant.cl before it.
// One work-group of NM_WG per (t, h, b): the q·k dot is split over the group and
// reduced in local memory; each work-item owns dims lid, lid + NM_WG, ... of v.
// D <= NM_ATT_MAXD and Dv <= NM_ATT_MAXD (host checks).

#define NM_ATT_MAXD 512
#define NM_ATT_PER (NM_ATT_MAXD / NM_WG)

// Element i of a K or V row; type 0 f32, 1 f16, 2 q8_0 (nb0 unused: blocks of 34 bytes).
inline float load_kv(global const char* row, int i, ulong nb0, int type) {
  if (type == 2) return q8_0_get((global const uchar*)row + (i / QK) * 34, i % QK);
  global const char* p = row + i * nb0;
  return type == 1 ? vload_half(0, (global const half*)p) : *(global const float*)p;
}

kernel void attention_f32(global const char* q, ulong oq, global const char* k, ulong ok, global const char* v, ulong ov,
                          global const char* msk, ulong om, global char* d, ulong od,
                          int D, int Dv, int T, int H, int n_kv, int Hkv, int k_type, int v_type, int has_mask, int mask_f16,
                          ulong qnb1, ulong qnb2, ulong qnb3, ulong knb0, ulong knb1, ulong knb2, ulong knb3,
                          ulong vnb0, ulong vnb1, ulong vnb2, ulong vnb3, float scale) {
  local float red[NM_WG];
  local float qs[NM_ATT_MAXD];
  const int t = get_group_id(0), h = get_group_id(1), bb = get_group_id(2);
  const int lid = get_local_id(0);
  const int hk = h / (H / Hkv);
  global const float* qr = (global const float*)(q + oq + t * qnb1 + h * qnb2 + bb * qnb3);
  for (int i = lid; i < D; i += NM_WG) qs[i] = qr[i];
  barrier(CLK_LOCAL_MEM_FENCE);
  float acc[NM_ATT_PER];
  for (int r = 0; r < NM_ATT_PER; ++r) acc[r] = 0.0f;
  float mx = -INFINITY, l = 0.0f;
  global const char* kb = k + ok + hk * knb2 + bb * knb3;
  global const char* vb = v + ov + hk * vnb2 + bb * vnb3;
  for (int j = 0; j < n_kv; ++j) {
    float s = 0.0f;
    global const char* kr = kb + j * knb1;
    for (int i = lid; i < D; i += NM_WG) s += qs[i] * load_kv(kr, i, knb0, k_type);
    red[lid] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int w = NM_WG / 2; w > 0; w >>= 1) {
      if (lid < w) red[lid] += red[lid + w];
      barrier(CLK_LOCAL_MEM_FENCE);
    }
    s = red[0] * scale;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (has_mask) {
      const long mi = (long)t * n_kv + j;
      s += mask_f16 ? vload_half(mi, (global const half*)(msk + om)) : ((global const float*)(msk + om))[mi];
    }
    if (s == -INFINITY) continue;  // masked out: contributes nothing
    const float mnew = fmax(mx, s);
    const float corr = exp(mx - mnew);  // exp(-inf) = 0 on the first unmasked key
    const float p = exp(s - mnew);
    l = l * corr + p;
    global const char* vr = vb + j * vnb1;
    for (int r = 0; r < NM_ATT_PER; ++r) {
      const int i = lid + r * NM_WG;
      if (i < Dv) acc[r] = acc[r] * corr + p * load_kv(vr, i, vnb0, v_type);
    }
    mx = mnew;
  }
  global float* dr = (global float*)(d + od) + (long)Dv * (h + (long)H * (t + (long)T * bb));
  const float inv = l > 0.0f ? 1.0f / l : 0.0f;
  for (int r = 0; r < NM_ATT_PER; ++r) {
    const int i = lid + r * NM_WG;
    if (i < Dv) dr[i] = acc[r] * inv;
  }
}
