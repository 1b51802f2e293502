// Rotary position embedding of contiguous x f32 [head_dim, n_head, n_tokens, 1] with
// pos i32 [n_tokens]. theta_i = pos * freq_scale * base^(-2i / n_dims).
// normal (mode 0): rotates pairs (x[2i], x[2i+1]); neox (mode 2): pairs (x[i], x[i + n_dims/2]).
// Dims past n_dims are copied. One work-item per pair (or copied dim pair).
kernel void rope_f32(global const char* x, ulong ox, global const char* p, ulong op, global char* d, ulong od,
                     int ne0, int ne1, int ne2, int n_dims, int neox, float freq_base, float freq_scale) {
  const int ip = get_global_id(0);  // pair index in [0, ne0 / 2)
  const int h = get_global_id(1);
  const int t = get_global_id(2);
  if (ip >= ne0 / 2 || h >= ne1 || t >= ne2) return;
  global const float* xr = (global const float*)(x + ox) + ((long)t * ne1 + h) * ne0;
  global float* dr = (global float*)(d + od) + ((long)t * ne1 + h) * ne0;
  if (2 * ip >= n_dims) {
    dr[2 * ip] = xr[2 * ip];
    dr[2 * ip + 1] = xr[2 * ip + 1];
    return;
  }
  const int pos = ((global const int*)(p + op))[t];
  const float theta = (float)pos * freq_scale * pow(freq_base, -2.0f * (float)ip / (float)n_dims);
  const float c = cos(theta), s = sin(theta);
  const int i0 = neox ? ip : 2 * ip;
  const int i1 = neox ? ip + n_dims / 2 : 2 * ip + 1;
  const float a = xr[i0], b = xr[i1];
  dr[i0] = a * c - b * s;
  dr[i1] = a * s + b * c;
}
