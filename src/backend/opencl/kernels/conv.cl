// Convolutions (ggml layouts, contiguous tensors). 2-D: kernel [KW, KH, IC, OC] (f32 or
// f16, k_f16 flag), input f32 [IW, IH, IC, N]; 1-D: kernel [KW, IC, OC], input [L, IC, N]
// (the 2-D kernels with KH = IH = 1, s1 = 1, p1 = 0, d1 = 1).
// im2col: out [IC*KH*KW, OW, OH, N], element (ic*KH + kh)*KW + kw of column (ow, oh, n)
// = input(ow*s0 + kw*d0 - p0, oh*s1 + kh*d1 - p1, ic, n), 0 outside (zero padding).
// conv: out f32 [OW, OH, OC, N] = sum over ic, kh, kw of kernel * input (direct loop).

#define CONV_GEOM int IW, int IH, int IC, int KW, int KH, int OW, int OH, int s0, int s1, int p0, int p1, int d0, int d1

inline float conv_in(global const float* in, int ix, int iy, int ic, int n, int IW, int IH, int IC) {
  if (ix < 0 || ix >= IW || iy < 0 || iy >= IH) return 0.0f;
  return in[ix + (long)IW * (iy + (long)IH * (ic + (long)IC * n))];
}

// One work-item per output element; out_f16 selects the destination type.
kernel void im2col(global const char* x, ulong ox, global char* d, ulong od, int out_f16, int N, CONV_GEOM) {
  const long i = get_global_id(0);
  const long K = (long)IC * KH * KW;
  if (i >= K * OW * OH * N) return;
  const int c = i % K;
  const long col = i / K;
  const int ow = col % OW, oh = (col / OW) % OH, n = col / ((long)OW * OH);
  const int kw = c % KW, kh = (c / KW) % KH, ic = c / (KW * KH);
  const float v = conv_in((global const float*)(x + ox), ow * s0 + kw * d0 - p0, oh * s1 + kh * d1 - p1, ic, n, IW, IH, IC);
  if (out_f16) vstore_half_rte(v, i, (global half*)(d + od));
  else ((global float*)(d + od))[i] = v;
}

kernel void conv2d(global const char* k, ulong ok, global const char* x, ulong ox, global char* d, ulong od, int k_f16,
                   int OC, int N, CONV_GEOM) {
  const long i = get_global_id(0);
  if (i >= (long)OW * OH * OC * N) return;
  const int ow = i % OW, oh = (i / OW) % OH, oc = (i / ((long)OW * OH)) % OC, n = i / ((long)OW * OH * OC);
  global const float* in = (global const float*)(x + ox);
  const long kbase = (long)oc * IC * KH * KW;
  float s = 0.0f;
  for (int ic = 0; ic < IC; ++ic) {
    for (int kh = 0; kh < KH; ++kh) {
      for (int kw = 0; kw < KW; ++kw) {
        const long ki = kbase + ((long)ic * KH + kh) * KW + kw;
        const float kv = k_f16 ? vload_half(ki, (global const half*)(k + ok)) : ((global const float*)(k + ok))[ki];
        s += kv * conv_in(in, ow * s0 + kw * d0 - p0, oh * s1 + kh * d1 - p1, ic, n, IW, IH, IC);
      }
    }
  }
  ((global float*)(d + od))[i] = s;
}
