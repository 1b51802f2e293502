// Test shim: a C ABI over library internals, loaded by pytest through ctypes so that the
// numpy references in tests/reference/ can check kernels on fresh random inputs.
// Every function returns 0 on success, non-zero on error. Not a public API.
#pragma once

#include <cstdint>

#define NM_SHIM extern "C" __attribute__((visibility("default")))
