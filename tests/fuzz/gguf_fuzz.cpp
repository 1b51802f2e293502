// libFuzzer target: arbitrary bytes into the GGUF reader (from memory, no disk). On
// success every getter and tensor view is exercised so that a bad bound shows up here.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/gguf_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto f = nm::GgufFile::from_memory(data, size, nullptr);
  if (!f.ok()) return 0;
  volatile uint64_t sink = 0;
  for (const auto& kv : f->metadata()) {
    (void)f->get_u32(kv.key);
    (void)f->get_string(kv.key);
    (void)f->get_array_strings(kv.key);
    (void)f->get_array_f32(kv.key);
    auto i = f->get_int(kv.key);
    if (i.ok()) sink = sink + static_cast<uint64_t>(i.value());
  }
  for (const auto& info : f->tensors()) {
    nm::Tensor t = f->tensor(info);
    const auto* p = static_cast<const uint8_t*>(t.data);
    if (t.n_bytes() != info.n_bytes) __builtin_trap();
    if (p < data || p + t.n_bytes() > data + size) __builtin_trap();
    if (t.n_bytes() > 0) sink = sink + p[0] + p[t.n_bytes() - 1];
  }
  return 0;
}
