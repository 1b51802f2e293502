// Row normalisations of contiguous f32 rows: one work-group of NM_WG work-items per
// row, sums reduced in local memory. w, b: optional f32[ne0] (has_w / has_b flags).

inline float wg_sum(local float* red, float v) {
  const int lid = get_local_id(0);
  red[lid] = v;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int s = NM_WG / 2; s > 0; s >>= 1) {
    if (lid < s) red[lid] += red[lid + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  const float r = red[0];
  barrier(CLK_LOCAL_MEM_FENCE);
  return r;
}

// y = x / sqrt(mean(x^2) + eps) * w
kernel void rms_norm_f32(global const char* x, ulong ox, global const char* w, ulong ow, int has_w,
                         global char* d, ulong od, int ne0, float eps) {
  local float red[NM_WG];
  const long row = get_group_id(0);
  const int lid = get_local_id(0);
  global const float* xr = (global const float*)(x + ox) + row * ne0;
  global float* dr = (global float*)(d + od) + row * ne0;
  global const float* wr = (global const float*)(w + ow);
  float s = 0.0f;
  for (int i = lid; i < ne0; i += NM_WG) s += xr[i] * xr[i];
  const float r = rsqrt(wg_sum(red, s) / ne0 + eps);
  for (int i = lid; i < ne0; i += NM_WG) dr[i] = xr[i] * r * (has_w ? wr[i] : 1.0f);
}

// y = (x - mean) / sqrt(var + eps) * w + b
kernel void layer_norm_f32(global const char* x, ulong ox, global const char* w, ulong ow, int has_w,
                           global const char* b, ulong ob, int has_b, global char* d, ulong od, int ne0, float eps) {
  local float red[NM_WG];
  const long row = get_group_id(0);
  const int lid = get_local_id(0);
  global const float* xr = (global const float*)(x + ox) + row * ne0;
  global float* dr = (global float*)(d + od) + row * ne0;
  global const float* wr = (global const float*)(w + ow);
  global const float* br = (global const float*)(b + ob);
  float s = 0.0f;
  for (int i = lid; i < ne0; i += NM_WG) s += xr[i];
  const float mean = wg_sum(red, s) / ne0;
  float v = 0.0f;
  for (int i = lid; i < ne0; i += NM_WG) v += (xr[i] - mean) * (xr[i] - mean);
  const float r = rsqrt(wg_sum(red, v) / ne0 + eps);
  for (int i = lid; i < ne0; i += NM_WG) dr[i] = (xr[i] - mean) * r * (has_w ? wr[i] : 1.0f) + (has_b ? br[i] : 0.0f);
}

// y = softmax(x * scale + mask) per row; mask (f32 or f16, mask_f16 flag) row i1 of
// [ne0, >= ne1], broadcast over dims 2 and 3.
kernel void softmax_f32(global const char* x, ulong ox, global const char* m, ulong om, int has_mask, int mask_f16,
                        global char* d, ulong od, int ne0, int ne1, float scale) {
  local float red[NM_WG];
  const long row = get_group_id(0);
  const int lid = get_local_id(0);
  global const float* xr = (global const float*)(x + ox) + row * ne0;
  global float* dr = (global float*)(d + od) + row * ne0;
  const long mrow = (row % ne1) * ne0;
  float mx = -INFINITY;
  for (int i = lid; i < ne0; i += NM_WG) {
    float v = xr[i] * scale;
    if (has_mask) v += mask_f16 ? vload_half(mrow + i, (global const half*)(m + om)) : ((global const float*)(m + om))[mrow + i];
    dr[i] = v;
    mx = fmax(mx, v);
  }
  // max reduction
  red[lid] = mx;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int s = NM_WG / 2; s > 0; s >>= 1) {
    if (lid < s) red[lid] = fmax(red[lid], red[lid + s]);
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  mx = red[0];
  barrier(CLK_LOCAL_MEM_FENCE);
  float sum = 0.0f;
  for (int i = lid; i < ne0; i += NM_WG) {
    const float e = exp(dr[i] - mx);
    dr[i] = e;
    sum += e;
  }
  const float inv = 1.0f / wg_sum(red, sum);
  for (int i = lid; i < ne0; i += NM_WG) dr[i] *= inv;
}
