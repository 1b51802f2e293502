// Quick device measurements for `nanomind devices`: streaming read bandwidth and f32
// multiply-add throughput.

// Each work-item sums `per` float4s: at a stride of the global size (coalesced, GPUs)
// or a contiguous run of its own (CPU devices, where a work-item is a SIMD lane loop).
kernel void probe_read(global const float4* x, global float* out, int per, int contiguous) {
  const int gid = get_global_id(0), n = get_global_size(0);
  float4 s = (float4)(0.0f);
  if (contiguous) {
    for (int i = 0; i < per; ++i) s += x[gid * per + i];
  } else {
    for (int i = 0; i < per; ++i) s += x[gid + i * n];
  }
  out[gid] = s.x + s.y + s.z + s.w;
}

// 16 independent float4 chains of a = a * b + c: 128 flops per inner iteration.
kernel void probe_fma(global float* out, int iters, float b, float c) {
  const int gid = get_global_id(0);
  float4 a0 = (float4)(gid), a1 = a0 + 1, a2 = a0 + 2, a3 = a0 + 3, a4 = a0 + 4, a5 = a0 + 5, a6 = a0 + 6, a7 = a0 + 7;
  float4 a8 = a0 + 8, a9 = a0 + 9, a10 = a0 + 10, a11 = a0 + 11, a12 = a0 + 12, a13 = a0 + 13, a14 = a0 + 14, a15 = a0 + 15;
  for (int i = 0; i < iters; ++i) {
    a0 = mad(a0, b, c); a1 = mad(a1, b, c); a2 = mad(a2, b, c); a3 = mad(a3, b, c);
    a4 = mad(a4, b, c); a5 = mad(a5, b, c); a6 = mad(a6, b, c); a7 = mad(a7, b, c);
    a8 = mad(a8, b, c); a9 = mad(a9, b, c); a10 = mad(a10, b, c); a11 = mad(a11, b, c);
    a12 = mad(a12, b, c); a13 = mad(a13, b, c); a14 = mad(a14, b, c); a15 = mad(a15, b, c);
  }
  const float4 s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11 + a12 + a13 + a14 + a15;
  out[gid] = s.x + s.y + s.z + s.w;
}
