// k-tap 1-D convolutions over rows of channels (one row per frame, as VITS's decoder runs
// them) as one implicit GEMM (gemm_f32.h): the input is copied once into scratch, zero-padded
// and through the leaky ReLU, and each tap's weights multiply rows of that copy read in
// place. unfold1d + matmul wrote and read back k copies of the input instead (k = 3..11;
// the decoder's last stage is 101k frames x 32 channels per 4.6 s of audio). Long inputs go
// in passes of output frames whose copy stays in L2 (256 KB), so it is not read back from
// memory (that stage's k = 5 shape, one thread, best of 7 alternated on a shared machine:
// 24.2 -> 18.2 ms; 128 channels x 3160 frames: 7.0 -> 4.2 ms).
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
  const float* residual = nullptr;  // [s.t_out()][oc] added to y, or null (may be y itself)
  int64_t oc = 0;
  float* y = nullptr;           // [s.t_out()][oc]
};

size_t conv1d_gemm_scratch_bytes(const kernels::Conv1dRows& s, int64_t oc);
// y[t][o] = residual[t][o] + bias[o] + sum_{j, ch} w[o][j*c + ch] f(x[t*stride - pad + j*dilation][ch]),
// 0 outside x, f the leaky ReLU of `slope`. On every thread of `pool`.
Status conv1d_gemm(Isa isa, const Conv1dGemmArgs& a, void* scratch, ThreadPool& pool);

}  // namespace nm
