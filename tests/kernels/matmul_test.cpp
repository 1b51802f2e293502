// matmul(): each SIMD path vs the scalar path, thread-count invariance (bit-identical),
// scratch bounds (guard bytes after the announced scratch size stay untouched).
#include "kernels/matmul.h"
#include "kernels/matmul_kernels.h"
#include "kernels/matmul_packed.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

namespace nm {
namespace {

const DType kTypes[] = {DType::F32,  DType::F16,  DType::BF16,   DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1,
                        DType::Q8_0, DType::IQ4_NL, DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K};

// Random valid weights: random bits, then every fp16 scale field set to a sane value.
std::vector<uint8_t> random_weights(DType t, int64_t m, int64_t k, std::mt19937& g) {
  const size_t rb = row_size(t, k);
  std::vector<uint8_t> w(rb * m);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  if (t == DType::F32 || t == DType::F16 || t == DType::BF16) {
    for (int64_t i = 0; i < m * k; ++i) {
      const float v = u(g);
      if (t == DType::F32) std::memcpy(&w[i * 4], &v, 4);
      else { const uint16_t h = t == DType::F16 ? fp32_to_fp16(v) : fp32_to_bf16(v); std::memcpy(&w[i * 2], &h, 2); }
    }
    return w;
  }
  for (auto& b : w) b = (uint8_t)g();
  const auto* tr = type_traits(t);
  std::vector<size_t> offs = {0};
  if (t == DType::Q4_1 || t == DType::Q5_1 || t == DType::Q4_K || t == DType::Q5_K) offs = {0, 2};
  if (t == DType::Q6_K) offs = {208};
  if (t == DType::Q2_K) offs = {80, 82};
  if (t == DType::Q3_K) offs = {108};
  for (size_t blk = 0; blk < w.size() / tr->type_size; ++blk) {
    for (size_t o : offs) {
      const uint16_t h = fp32_to_fp16(0.01f * (1.0f + 0.5f * u(g)));
      std::memcpy(&w[blk * tr->type_size + o], &h, 2);
    }
  }
  return w;
}

double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::fmax(m, std::fabs(x));
  return m;
}

std::vector<float> run(Isa isa, DType t, const std::vector<uint8_t>& w, int64_t m, int64_t k,
                       const std::vector<float>& x, int64_t n, int threads, bool packed = false) {
  MatmulArgs a;
  a.w_type = t; a.w = w.data(); a.w_row_bytes = row_size(t, k); a.m = m; a.k = k; a.w_packed = packed;
  a.x = x.data(); a.x_stride = k; a.n = n;
  std::vector<float> y(n * m, NAN);
  a.y = y.data(); a.y_stride = m;
  const size_t sb = matmul_scratch_bytes(t, m, k, n);
  std::vector<uint8_t> scratch(sb + 64, 0xA5);
  ThreadPool pool(threads);
  const Status st = matmul(isa, a, scratch.data(), pool);
  EXPECT_TRUE(st.ok()) << st.to_string();
  for (size_t i = sb; i < scratch.size(); ++i) EXPECT_EQ(scratch[i], 0xA5) << "scratch overrun";
  return y;
}

TEST(Matmul, SimdMatchesScalarAndThreadsAreBitIdentical) {
  std::mt19937 g(1234);
  std::normal_distribution<float> nd;
  for (DType t : kTypes) {
    const int64_t bs = block_size(t) == 1 ? 32 : block_size(t);
    // 300 x 1: five 64-row matrix-vector chunks, split into per-thread streams differently
    // for 2 and 3 threads
    for (auto [m, nbk, n] : {std::tuple<int64_t, int64_t, int64_t>{11, 3, 1}, {300, 2, 1}, {70, 2, 9}}) {
      const int64_t k = bs * nbk;
      const auto w = random_weights(t, m, k, g);
      std::vector<float> x(n * k);
      for (auto& v : x) v = nd(g);
      const auto ref = run(Isa::scalar, t, w, m, k, x, n, 1);
      for (Isa isa : usable_isas()) {
        const auto y1 = run(isa, t, w, m, k, x, n, 1);
        for (int threads : {2, 3}) {
          const auto yt = run(isa, t, w, m, k, x, n, threads);
          ASSERT_EQ(0, std::memcmp(y1.data(), yt.data(), y1.size() * 4))
              << dtype_name(t) << " " << isa_name(isa) << " threads " << threads;
        }
        // SIMD vs scalar: same integer products; float sums in another order, and the SIMD
        // activation quantiser may round a near-half value the other way (one step, d*|w|).
        const double mag = max_abs(ref);
        for (size_t i = 0; i < ref.size(); ++i) {
          ASSERT_NEAR(y1[i], ref[i], 1e-5 * mag + 0.05) << dtype_name(t) << " " << isa_name(isa) << " i " << i;
        }
      }
    }
  }
}

// Float weights with k not a multiple of any vector width (the SIMD tails), one to nine
// activation rows (matrix-vector, register tiles, the f32 panel GEMM), against the scalar path.
TEST(Matmul, FloatWeightsWithOddKMatchScalar) {
  std::mt19937 g(777);
  std::normal_distribution<float> nd;
  for (DType t : {DType::F32, DType::F16, DType::BF16}) {
    for (int64_t k : {7, 37, 100}) {
      for (int64_t n : {1, 3, 9}) {
        const int64_t m = 13;
        const auto w = random_weights(t, m, k, g);
        std::vector<float> x(n * k);
        for (auto& v : x) v = nd(g);
        const auto ref = run(Isa::scalar, t, w, m, k, x, n, 1);
        const double mag = max_abs(ref);
        for (Isa isa : usable_isas()) {
          const auto y = run(isa, t, w, m, k, x, n, 2);
          for (size_t i = 0; i < ref.size(); ++i) {
            ASSERT_NEAR(y[i], ref[i], 1e-5 * mag) << dtype_name(t) << " " << isa_name(isa) << " k " << k << " n " << n;
          }
        }
      }
    }
  }
}

// Packed (row-interleaved) weights on every ISA that has a packed kernel: the same
// products as the scalar kernel on the file layout, bit-identical for any thread count.
TEST(Matmul, PackedMatchesScalarOnEveryIsa) {
  std::mt19937 g(4321);
  std::normal_distribution<float> nd;
  int checked = 0;
  for (DType t : {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::IQ4_NL, DType::Q8_0, DType::Q2_K,
                  DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
    for (auto [m, nbk, n] : {std::tuple<int64_t, int64_t, int64_t>{32, 3, 1}, {80, 5, 9}, {16, 1, 3}}) {
      const int64_t k = block_size(t) * nbk;
      const auto w = random_weights(t, m, k, g);
      std::vector<uint8_t> packed(matmul_packed_bytes(t, m, k));
      matmul_pack_weights(t, w.data(), row_size(t, k), m, k, packed.data());
      std::vector<float> x(n * k);
      for (auto& v : x) v = nd(g);
      const auto ref = run(Isa::scalar, t, w, m, k, x, n, 1);
      const double mag = max_abs(ref);
      for (Isa isa : usable_isas()) {
        if (!matmul_packable(isa, t, m, k)) continue;
        const auto y1 = run(isa, t, packed, m, k, x, n, 1, true);
        const auto y3 = run(isa, t, packed, m, k, x, n, 3, true);
        ASSERT_EQ(0, std::memcmp(y1.data(), y3.data(), y1.size() * 4)) << dtype_name(t) << " " << isa_name(isa);
        for (size_t i = 0; i < ref.size(); ++i) {
          ASSERT_NEAR(y1[i], ref[i], 1e-5 * mag + 0.05) << dtype_name(t) << " packed " << isa_name(isa) << " i " << i;
        }
        ++checked;
      }
    }
  }
  if (checked == 0) GTEST_SKIP() << "no packed kernel on this CPU";
}

// With quantised weights a token's row must get the same bits whether it is decoded alone
// (matrix-vector kernels) or prefilled in a batch (tiles): otherwise a different float sum
// can move a later 8-bit activation across a rounding midpoint, and prefill-then-decode
// stops matching one prefill (it did, by 1e-2 of the logits, for Q8_0 on AVX-512 without
// VNNI). Float weights are exempt: their SIMD tiles and matrix-vector kernels sum in
// different orders, which moves a result by float rounding only.
TEST(Matmul, OneRowAloneEqualsThatRowOfABatch) {
  std::mt19937 g(99);
  std::normal_distribution<float> nd;
  for (DType t : kTypes) {
    if (block_size(t) == 1) continue;
    const int64_t bs = block_size(t);
    for (int64_t nbk : {int64_t{1}, int64_t{5}, int64_t{8}}) {  // odd block counts leave a half pair
      const int64_t m = 48, k = bs * nbk, n = 6;
      const auto w = random_weights(t, m, k, g);
      std::vector<uint8_t> packed;
      std::vector<float> x(n * k);
      for (auto& v : x) v = nd(g);
      for (Isa isa : usable_isas()) {
        for (bool use_packed : {false, true}) {
          if (use_packed && !matmul_packable(isa, t, m, k)) continue;
          if (use_packed && packed.empty()) {
            packed.resize(matmul_packed_bytes(t, m, k));
            matmul_pack_weights(t, w.data(), row_size(t, k), m, k, packed.data());
          }
          const auto& wl = use_packed ? packed : w;
          const auto batch = run(isa, t, wl, m, k, x, n, 2, use_packed);
          for (int64_t c = 0; c < n; ++c) {
            const std::vector<float> xc(x.begin() + c * k, x.begin() + (c + 1) * k);
            const auto one = run(isa, t, wl, m, k, xc, 1, 2, use_packed);
            ASSERT_EQ(0, std::memcmp(one.data(), batch.data() + c * m, m * 4))
                << dtype_name(t) << " " << isa_name(isa) << (use_packed ? " packed" : "") << " k " << k << " column " << c;
          }
        }
      }
    }
  }
}

// Every ISA's Q8_K activation quantiser writes the scalar quantiser's bytes, on normal rows,
// rows with ties (x.5 steps), zero blocks and blocks whose largest magnitude appears with
// both signs (the first one sets the sign of d). (Q8_0's SIMD quantisers round ties to even,
// as llama.cpp's do, where the scalar reference rounds them away from zero.)
TEST(Matmul, ActivationQuantisersMatchScalar) {
  std::mt19937 g(7);
  std::normal_distribution<float> nd;
  for (DType t : {DType::Q4_K}) {
    MatmulKernel ref;
    ASSERT_TRUE(matmul_select_kernel(Isa::scalar, t, &ref));
    const int64_t k = 4 * QK_K;
    const size_t bytes = row_size(ref.act_type, k);
    for (int trial = 0; trial < 200; ++trial) {
      std::vector<float> x(k);
      for (auto& v : x) v = nd(g) * std::exp(nd(g));
      if (trial % 4 == 1) {  // halves, and 127 in every block: scale 1, so every half is a tie
        for (auto& v : x) v = (float)(int)(nd(g) * 40) + 0.5f;
        for (int64_t i = 0; i < k; i += 32) x[i] = (i / 32) % 2 ? 127.0f : -127.0f;
      }
      if (trial % 4 == 2) std::fill(x.begin() + QK_K, x.begin() + 2 * QK_K, 0.0f);
      if (trial % 4 == 3) {
        x[5] = -100.0f;
        x[9] = 100.0f;
        x[QK_K + 40] = 100.0f;
        x[QK_K + 7] = -100.0f;
      }
      std::vector<uint8_t> want(bytes), got(bytes);
      ref.quantize(x.data(), want.data(), k);
      for (Isa isa : usable_isas()) {
        MatmulKernel kern;
        ASSERT_TRUE(matmul_select_kernel(isa, t, &kern));
        std::fill(got.begin(), got.end(), 0xA5);
        kern.quantize(x.data(), got.data(), k);
        ASSERT_EQ(0, std::memcmp(want.data(), got.data(), bytes)) << dtype_name(ref.act_type) << " " << isa_name(isa)
                                                                  << " trial " << trial;
      }
    }
  }
}

TEST(Matmul, RejectsUnsupportedAndBadShapes) {
  ThreadPool pool(1);
  MatmulArgs a;
  a.w_type = DType::I8;
  EXPECT_FALSE(matmul_supports(DType::I8));
  EXPECT_EQ(matmul(Isa::scalar, a, nullptr, pool).code(), ErrorCode::unsupported);
  a.w_type = DType::Q4_0; a.k = 33; a.m = 1; a.n = 1;
  EXPECT_EQ(matmul(Isa::scalar, a, nullptr, pool).code(), ErrorCode::invalid_argument);
}

}  // namespace
}  // namespace nm
