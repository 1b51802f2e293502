// AVX2 + FMA + F16C matmul kernels (compiled with -mavx2 -mfma -mf16c by file suffix).
#include "kernels/matmul_x86_impl.h"
#include "kernels/matmul_x86_kquants.h"

namespace nm {

bool matmul_kernel_avx2(DType w_type, MatmulKernel* out) {
  return x86_kernel<false, 4, 2>(w_type, out) || x86_kernel_k<4, 2>(w_type, out);
}

}  // namespace nm
