// Shim for tests/python/test_gguf.py: write a fixed GGUF file with our writer (tensor
// bytes supplied by Python), and read a tensor's bytes back with our reader.
#include <cstring>

#include "core/gguf_reader.h"
#include "core/gguf_writer.h"
#include "tests/shim/shim.h"

// Metadata written (the Python test expects exactly these values); tensors
// "w.f32" F32 [8,3], "w.f16" F16 [16], "w.q4_0" Q4_0 [64,2], "w.q6_k" Q6_K [256], "w.i32" I32 [5]
// take their bytes from `blob` in that order (blob_len must equal their total).
NM_SHIM int nm_shim_gguf_write_sample(const char* path, const uint8_t* blob, size_t blob_len, uint32_t alignment) {
  using namespace nm;
  GgufWriter w;
  if (!w.set_alignment(alignment).ok()) return 1;
  w.add_string("general.architecture", "nmtest");
  w.add("t.u8", GgufValue(uint8_t{250}));
  w.add("t.i8", GgufValue(int8_t{-7}));
  w.add("t.u16", GgufValue(uint16_t{65535}));
  w.add("t.i16", GgufValue(int16_t{-32768}));
  w.add("t.u32", GgufValue(uint32_t{123456789}));
  w.add("t.i32", GgufValue(int32_t{-123456789}));
  w.add("t.f32", GgufValue(0.25f));
  w.add("t.bool", GgufValue(false));
  w.add("t.str", GgufValue(std::string("ünïcode ✓")));
  w.add("t.u64", GgufValue(uint64_t{18446744073709551615ull}));
  w.add("t.i64", GgufValue(int64_t{-9007199254740993}));
  w.add("t.f64", GgufValue(3.141592653589793));
  w.add_array_strings("t.arr_str", {"<s>", "</s>", "hello world"});
  w.add_array_f32("t.arr_f32", {0.5f, -1.25f});
  w.add_array_i32("t.arr_i32", {-1, 0, 1});
  w.add("t.arr_u8", gguf_array(std::vector<uint8_t>{1, 2, 255}));
  w.add("t.arr_nested", GgufValue(GgufArray{GgufType::array, {gguf_array(std::vector<int32_t>{1, 2}),
                                                               gguf_array(std::vector<int32_t>{3})}}));
  struct T { const char* name; DType type; std::vector<int64_t> ne; };
  const T ts[] = {{"w.f32", DType::F32, {8, 3}}, {"w.f16", DType::F16, {16}}, {"w.q4_0", DType::Q4_0, {64, 2}},
                  {"w.q6_k", DType::Q6_K, {256}}, {"w.i32", DType::I32, {5}}};
  size_t at = 0;
  for (const T& t : ts) {
    size_t n = row_size(t.type, t.ne[0]) * static_cast<size_t>(t.ne.size() > 1 ? t.ne[1] : 1);
    if (at + n > blob_len) return 2;
    if (!w.add_tensor(t.name, t.type, t.ne, blob + at, n).ok()) return 3;
    at += n;
  }
  if (at != blob_len) return 4;
  return w.write(path).ok() ? 0 : 5;
}

// Copies tensor `name` of the file at `path` into out (cap bytes); *n_bytes gets its size.
NM_SHIM int nm_shim_gguf_tensor_bytes(const char* path, const char* name, uint8_t* out, size_t cap, size_t* n_bytes) {
  auto f = nm::GgufFile::open(path);
  if (!f.ok()) return 1;
  const nm::GgufTensorInfo* info = f->find_tensor(name);
  if (info == nullptr) return 2;
  *n_bytes = info->n_bytes;
  if (info->n_bytes > cap) return 3;
  std::memcpy(out, f->tensor_data(*info), info->n_bytes);
  return 0;
}
