// Element-wise ops on contiguous f32 tensors. Every tensor argument is a byte buffer
// plus a byte offset (imported host memory is page-aligned, tensors sit inside it).
// One work-item per output element; n = element count.

#define PTR_F(buf, off) ((global float*)((buf) + (off)))
#define CPTR_F(buf, off) ((global const float*)((buf) + (off)))

// b broadcast into a: a.ne[i] % b.ne[i] == 0. 32-bit index math (the host only sends
// tensors of < 2^31 elements here): 64-bit division is slow on many devices.
inline int bcast_index(int i, int ne0, int ne1, int ne2, int bne0, int bne1, int bne2, int bne3) {
  const int i0 = i % ne0, r = i / ne0;
  const int i1 = r % ne1, r2 = r / ne1;
  const int i2 = r2 % ne2, i3 = r2 / ne2;
  return (i0 % bne0) + bne0 * ((i1 % bne1) + bne1 * ((i2 % bne2) + bne2 * (i3 % bne3)));
}

kernel void add_f32(global const char* a, ulong oa, global const char* b, ulong ob, global char* d, ulong od,
                    long n, int ne0, int ne1, int ne2, int bne0, int bne1, int bne2, int bne3) {
  const int i = get_global_id(0);
  if (i >= n) return;
  PTR_F(d, od)[i] = CPTR_F(a, oa)[i] + CPTR_F(b, ob)[bcast_index(i, ne0, ne1, ne2, bne0, bne1, bne2, bne3)];
}

kernel void mul_f32(global const char* a, ulong oa, global const char* b, ulong ob, global char* d, ulong od,
                    long n, int ne0, int ne1, int ne2, int bne0, int bne1, int bne2, int bne3) {
  const int i = get_global_id(0);
  if (i >= n) return;
  PTR_F(d, od)[i] = CPTR_F(a, oa)[i] * CPTR_F(b, ob)[bcast_index(i, ne0, ne1, ne2, bne0, bne1, bne2, bne3)];
}

kernel void scale_f32(global const char* x, ulong ox, global char* d, ulong od, long n, float s) {
  const long i = get_global_id(0);
  if (i >= n) return;
  PTR_F(d, od)[i] = CPTR_F(x, ox)[i] * s;
}

inline float nm_silu(float x) { return x / (1.0f + exp(-x)); }

kernel void silu_f32(global const char* x, ulong ox, global char* d, ulong od, long n) {
  const long i = get_global_id(0);
  if (i >= n) return;
  PTR_F(d, od)[i] = nm_silu(CPTR_F(x, ox)[i]);
}

// silu(gate) * up
kernel void swiglu_f32(global const char* g, ulong og, global const char* u, ulong ou, global char* d, ulong od, long n) {
  const long i = get_global_id(0);
  if (i >= n) return;
  PTR_F(d, od)[i] = nm_silu(CPTR_F(g, og)[i]) * CPTR_F(u, ou)[i];
}

// tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
kernel void gelu_f32(global const char* x, ulong ox, global char* d, ulong od, long n) {
  const long i = get_global_id(0);
  if (i >= n) return;
  const float v = CPTR_F(x, ox)[i];
  PTR_F(d, od)[i] = 0.5f * v * (1.0f + tanh(0.7978845608028654f * v * (1.0f + 0.044715f * v * v)));
}

// exact: 0.5 x (1 + erf(x / sqrt 2))
kernel void gelu_erf_f32(global const char* x, ulong ox, global char* d, ulong od, long n) {
  const long i = get_global_id(0);
  if (i >= n) return;
  const float v = CPTR_F(x, ox)[i];
  PTR_F(d, od)[i] = 0.5f * v * (1.0f + erf(v * 0.7071067811865476f));
}

// x * sigmoid(1.702 x)
kernel void gelu_quick_f32(global const char* x, ulong ox, global char* d, ulong od, long n) {
  const long i = get_global_id(0);
  if (i >= n) return;
  const float v = CPTR_F(x, ox)[i];
  PTR_F(d, od)[i] = v / (1.0f + exp(-1.702f * v));
}
