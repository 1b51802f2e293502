// The OpenCL C sources of src/backend/opencl/kernels/*.cl, embedded at build time by
// cmake/embed_files.cmake. One program per file, named after the file ("matmul", "norm").
#pragma once

#include <span>
#include <string_view>

namespace nm {

struct EmbeddedKernel {
  const char* name;        // file name without ".cl"
  std::string_view source;
};

std::span<const EmbeddedKernel> opencl_embedded_kernels();

}  // namespace nm
