// k-tap 1-D convolutions over rows of channels (one row per frame, as VITS's decoder runs
// them) as one implicit GEMM (gemm_f32.h): the input is copied once into scratch, zero-padded
// and through the leaky ReLU, and each tap's weights multiply rows of that copy read in
// place. unfold1d + matmul wrote and read back k copies of the input instead (k = 3..11;
// the decoder's last stage is 88k frames x 32 channels per 4 s of audio).
// Thread-safety: reentrant; concurrent calls need distinct scratch.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/status.h"
#include "core/thread_pool.h"
#include "kernels/cpu_features.h"
#include "kernels/ops.h"

namespace nm {

struct Conv1dGemmArgs {
  const float* x = nullptr;     // [s.t_in][s.c]
  kernels::Conv1dRows s;
  float slope = 1.0f;           // leaky ReLU applied to x first (1: none)
  const float* w = nullptr;     // [oc][s.k * s.c], tap-major: w[o][j * c + ch]
  const float* bias = nullptr;  // [oc], or null
  int64_t oc = 0;
  float* y = nullptr;           // [s.t_out()][oc]
};

size_t conv1d_gemm_scratch_bytes(const kernels::Conv1dRows& s, int64_t oc);
// y[t][o] = bias[o] + sum_{j, ch} w[o][j*c + ch] f(x[t*stride - pad + j*dilation][ch]), 0
// outside x, f the leaky ReLU of `slope`. On every thread of `pool`.
Status conv1d_gemm(Isa isa, const Conv1dGemmArgs& a, void* scratch, ThreadPool& pool);

}  // namespace nm
