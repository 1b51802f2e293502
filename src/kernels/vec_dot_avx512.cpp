// AVX-512 matmul kernels: 32 vector registers allow 4x4 tiles; vpdpbusd only when the
// Isa is avx512_vnni (the caller passes vnni = true only then).
#include "kernels/matmul_x86_impl.h"
#include "kernels/matmul_x86_kquants.h"

namespace nm {

bool matmul_kernel_avx512(DType w_type, bool vnni, MatmulKernel* out) {
  const bool ok = vnni ? x86_kernel<true, 4, 4>(w_type, out) : x86_kernel<false, 4, 4>(w_type, out);
  return ok || x86_kernel_k<4, 4>(w_type, out);
}

}  // namespace nm
