// Test shim: a C ABI over library internals, loaded by pytest through ctypes so that the
// numpy references in tests/reference/ can check kernels on fresh random inputs.
// Every function returns 0 on success, non-zero on error. Not a public API.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#define NM_SHIM extern "C" __attribute__((visibility("default")))

// Copies s into the caller's buffer msg[cap] (truncated, always NUL-terminated).
inline void copy_message(const std::string& s, char* msg, int cap) {
  if (!msg || cap <= 0) return;
  const size_t n = std::min(s.size(), (size_t)cap - 1);
  std::memcpy(msg, s.data(), n);
  msg[n] = 0;
}
