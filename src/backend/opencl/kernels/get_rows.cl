// get_rows: out f32 [n_embd, n] = rows ids[i] of table [n_embd, n_rows] (rows at
// stride nb1). One work-item per output element. The host checks ids are in range.
kernel void get_rows_f32(global const char* t, ulong ot, global const char* ids, ulong oi, global char* d, ulong od,
                         int n_embd, int n, ulong nb1) {
  const int i0 = get_global_id(0), i = get_global_id(1);
  if (i0 >= n_embd || i >= n) return;
  const int r = ((global const int*)(ids + oi))[i];
  ((global float*)(d + od))[(long)i * n_embd + i0] = ((global const float*)(t + ot + r * nb1))[i0];
}

kernel void get_rows_f16(global const char* t, ulong ot, global const char* ids, ulong oi, global char* d, ulong od,
                         int n_embd, int n, ulong nb1) {
  const int i0 = get_global_id(0), i = get_global_id(1);
  if (i0 >= n_embd || i >= n) return;
  const int r = ((global const int*)(ids + oi))[i];
  ((global float*)(d + od))[(long)i * n_embd + i0] = vload_half(i0, (global const half*)(t + ot + r * nb1));
}

kernel void get_rows_q8_0(global const char* t, ulong ot, global const char* ids, ulong oi, global char* d, ulong od,
                          int n_embd, int n, ulong nb1) {
  const int i0 = get_global_id(0), i = get_global_id(1);
  if (i0 >= n_embd || i >= n) return;
  const int r = ((global const int*)(ids + oi))[i];
  global const uchar* blk = (global const uchar*)(t + ot + r * nb1) + (i0 / QK) * 34;
  ((global float*)(d + od))[(long)i * n_embd + i0] = q8_0_get(blk, i0 % QK);
}

kernel void get_rows_q4_0(global const char* t, ulong ot, global const char* ids, ulong oi, global char* d, ulong od,
                          int n_embd, int n, ulong nb1) {
  const int i0 = get_global_id(0), i = get_global_id(1);
  if (i0 >= n_embd || i >= n) return;
  const int r = ((global const int*)(ids + oi))[i];
  global const uchar* blk = (global const uchar*)(t + ot + r * nb1) + (i0 / QK) * 18;
  ((global float*)(d + od))[(long)i * n_embd + i0] = q4_0_get(blk, i0 % QK);
}
