// Shared by the C API's translation units (c_api.cpp, c_api_asr.cpp): the internal error
// code as the public nm_status, and an error message copied into a caller's buffer.
#pragma once

#include <algorithm>
#include <cstring>
#include <string>

#include "core/status.h"
#include "nanomind/nanomind.h"

namespace nm::capi {

inline nm_status to_c(nm::ErrorCode c) {
  switch (c) {
    case nm::ErrorCode::ok: return NM_OK;
    case nm::ErrorCode::invalid_argument: return NM_ERR_INVALID_ARGUMENT;
    case nm::ErrorCode::invalid_file: return NM_ERR_INVALID_FILE;
    case nm::ErrorCode::unsupported: return NM_ERR_UNSUPPORTED;
    case nm::ErrorCode::out_of_memory: return NM_ERR_OUT_OF_MEMORY;
    case nm::ErrorCode::out_of_range: return NM_ERR_OUT_OF_RANGE;
    case nm::ErrorCode::io_error: return NM_ERR_IO;
    case nm::ErrorCode::internal: return NM_ERR_INTERNAL;
  }
  return NM_ERR_INTERNAL;
}

// Copies msg into buf (size bytes, NUL-terminated, truncated to fit); nothing when buf is null.
inline void copy_message(const std::string& msg, char* buf, size_t size) {
  if (!buf || size == 0) return;
  const size_t n = std::min(msg.size(), size - 1);
  std::memcpy(buf, msg.data(), n);
  buf[n] = '\0';
}

}  // namespace nm::capi
