// kernels/ops.h: every SIMD Isa agrees with scalar within a stated bound, 1/2/3 threads are
// bit-identical, attention with fully masked rows and -inf-only softmax rows gives zeros
// (never NaN). The float64 references are in tests/python/test_ops.py.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/ops.h"

namespace nm::kernels {
namespace {

constexpr float kEps = 1.1920929e-7f;

std::vector<float> randn(size_t n, uint32_t seed, float sd = 1.0f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.0f, sd);
  std::vector<float> v(n);
  for (float& x : v) x = d(g);
  return v;
}

void run_on(int nth, const std::function<void(int, int)>& fn) {
  ThreadPool pool(nth);
  pool.run(fn);
}

// Runs `op` (filling out) for every usable Isa and 1/2/3 threads: results for one Isa
// must not depend on the thread count; every Isa must be within rel_tol (of max |scalar|)
// of scalar.
void check_all(size_t n_out, float rel_tol, const std::function<void(Isa, float*, int, int)>& op) {
  std::vector<float> scalar(n_out);
  run_on(1, [&](int ith, int nth) { op(Isa::scalar, scalar.data(), ith, nth); });
  float mag = 0.0f;
  for (float x : scalar) {
    ASSERT_FALSE(std::isnan(x));
    mag = std::max(mag, std::fabs(x));
  }
  for (Isa isa : usable_isas()) {
    std::vector<float> first;
    for (int nth = 1; nth <= 3; ++nth) {
      std::vector<float> out(n_out, NAN);
      run_on(nth, [&](int ith, int t) { op(isa, out.data(), ith, t); });
      if (first.empty()) {
        first = out;
        for (size_t i = 0; i < n_out; ++i)
          ASSERT_NEAR(out[i], scalar[i], rel_tol * mag + 1e-30f) << isa_name(isa) << " at " << i;
      } else {
        ASSERT_EQ(0, std::memcmp(first.data(), out.data(), n_out * sizeof(float)))
            << isa_name(isa) << " differs between 1 and " << nth << " threads";
      }
    }
  }
}

TEST(Ops, RmsNormAndLayerNorm) {
  const int64_t rows = 7, n = 1027;
  auto x = randn(rows * n, 1, 3.0f);
  auto w = randn(n, 2);
  check_all(rows * n, 64 * kEps, [&](Isa isa, float* y, int ith, int nth) {
    rms_norm(x.data(), y, w.data(), rows, n, 1e-5f, isa, ith, nth);
  });
  check_all(rows * n, 64 * kEps, [&](Isa isa, float* y, int ith, int nth) {
    layer_norm(x.data(), y, w.data(), nullptr, rows, n, 1e-5f, isa, ith, nth);
  });
}

TEST(Ops, SoftmaxFullyMaskedRowIsZero) {
  const int64_t rows = 5, n = 77;
  auto x = randn(rows * n, 3, 5.0f);
  std::vector<float> mask(2 * n, 0.0f);
  for (int64_t i = 0; i < n; ++i) mask[n + i] = -INFINITY;  // odd rows fully masked
  mask[3] = -INFINITY;
  check_all(rows * n, 32 * kEps, [&](Isa isa, float* y, int ith, int nth) {
    softmax(x.data(), y, mask.data(), 2, rows, n, 0.5f, isa, ith, nth);
  });
  for (Isa isa : usable_isas()) {
    std::vector<float> y(rows * n, NAN);
    softmax(x.data(), y.data(), mask.data(), 2, rows, n, 0.5f, isa, 0, 1);
    for (int64_t r = 0; r < rows; ++r) {
      double s = 0.0;
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_FALSE(std::isnan(y[r * n + i]));
        s += y[r * n + i];
      }
      EXPECT_NEAR(s, r % 2 ? 0.0 : 1.0, 1e-5) << isa_name(isa) << " row " << r;
    }
  }
}

// Prefill-like (6 or 40 tokens, groups of 2 or 4 heads) and decode-like (1 token, 8 query
// heads on one KV head, 71 keys: two key tiles): the heads and tokens per work unit change
// with the thread count.
void attention_case(int64_t nt, int64_t nh, int64_t nhkv, int64_t pos0) {
  const int64_t d = 64, n_kv = pos0 + nt;
  auto q = randn(nt * nh * d, 4);
  auto kf = randn(n_kv * nhkv * d, 5);
  auto vf = randn(n_kv * nhkv * d, 6);
  std::vector<fp16_t> kh(kf.size()), vh(vf.size());
  for (size_t i = 0; i < kf.size(); ++i) { kh[i] = fp32_to_fp16(kf[i]); vh[i] = fp32_to_fp16(vf[i]); }
  // Q8_0 rows built by hand: d = max|x|/127, q = round(x/d).
  auto to_q8 = [](const std::vector<float>& src) {
    std::vector<BlockQ8_0> b(src.size() / QK8_0);
    for (size_t k = 0; k < b.size(); ++k) {
      float amax = 0.0f;
      for (int j = 0; j < QK8_0; ++j) amax = std::max(amax, std::fabs(src[k * QK8_0 + j]));
      const float dd = amax / 127.0f;
      b[k].d = fp32_to_fp16(dd);
      for (int j = 0; j < QK8_0; ++j) b[k].qs[j] = (int8_t)std::lround(dd > 0 ? src[k * QK8_0 + j] / dd : 0.0f);
    }
    return b;
  };
  auto kq = to_q8(kf), vq = to_q8(vf);
  std::vector<float> mask(nt * n_kv, 0.0f);
  const int64_t blind = nt > 2 ? 2 : -1;  // this token sees nothing (none with one token)
  for (int64_t j = 0; blind >= 0 && j < n_kv; ++j) mask[blind * n_kv + j] = -INFINITY;
  const int64_t short_sighted = nt > 3 ? 3 : -1;  // sees only the first third of the keys
  for (int64_t j = n_kv / 3; short_sighted >= 0 && j < n_kv; ++j) mask[short_sighted * n_kv + j] = -INFINITY;
  const void* ks[] = {kf.data(), kh.data(), kq.data()};
  const void* vs[] = {vf.data(), vh.data(), vq.data()};
  const DType types[] = {DType::F32, DType::F16, DType::Q8_0};
  for (int t = 0; t < 3; ++t) {
    AttentionParams p;
    p.n_tokens = nt; p.n_head = nh; p.n_head_kv = nhkv; p.head_dim = d; p.n_kv = n_kv; p.pos0 = pos0;
    p.scale = 1.0f / 8.0f; p.kv_type = types[t]; p.mask = mask.data(); p.mask_stride = n_kv;
    check_all(nt * nh * d, 64 * kEps, [&](Isa isa, float* out, int ith, int nth) {
      ASSERT_TRUE(attention(q.data(), ks[t], vs[t], out, p, isa, ith, nth).ok());
    });
    // Units from a shared counter (the CPU executor's run_stealable): thread 0 of 3 alone,
    // or threads 2 and 0 one after the other, give the bits of 3 threads dealt round-robin.
    std::vector<float> dealt(nt * nh * d, NAN), alone(dealt.size(), NAN), two(dealt.size(), NAN);
    for (int ith = 0; ith < 3; ++ith) ASSERT_TRUE(attention(q.data(), ks[t], vs[t], dealt.data(), p, best_isa(), ith, 3).ok());
    std::atomic<int64_t> next{0};
    AttentionParams ps = p;
    ps.next_unit = &next;
    ASSERT_TRUE(attention(q.data(), ks[t], vs[t], alone.data(), ps, best_isa(), 0, 3).ok());
    next = 0;
    ASSERT_TRUE(attention(q.data(), ks[t], vs[t], two.data(), ps, best_isa(), 2, 3).ok());
    ASSERT_TRUE(attention(q.data(), ks[t], vs[t], two.data(), ps, best_isa(), 0, 3).ok());
    ASSERT_EQ(0, std::memcmp(dealt.data(), alone.data(), dealt.size() * 4)) << "kv type " << t;
    ASSERT_EQ(0, std::memcmp(dealt.data(), two.data(), dealt.size() * 4)) << "kv type " << t;
    std::vector<float> out(nt * nh * d, NAN);
    ASSERT_TRUE(attention(q.data(), ks[t], vs[t], out.data(), p, best_isa(), 0, 1).ok());
    for (int64_t i = 0; blind >= 0 && i < nh * d; ++i) EXPECT_EQ(out[blind * nh * d + i], 0.0f);
    for (float x : out) ASSERT_FALSE(std::isnan(x));
  }
}

TEST(Ops, AttentionAllKvTypesAndMaskedRows) {
  attention_case(6, 4, 2, 9);
  attention_case(1, 8, 1, 70);
  attention_case(40, 8, 2, 30);  // token blocks of 32 (1 thread) down to 4 (3 threads), 70 keys
}

TEST(Ops, ActivationsAgreeAcrossIsas) {
  const int64_t n = 1003;
  auto x = randn(n, 7, 4.0f);
  x[0] = -100.0f; x[1] = 100.0f; x[2] = 0.0f;
  auto b = randn(n, 8);
  for (Act act : {Act::gelu, Act::gelu_erf, Act::gelu_quick, Act::silu}) {
    check_all(n, 16 * kEps, [&](Isa isa, float* y, int ith, int nth) { activation(act, x.data(), y, n, isa, ith, nth); });
  }
  check_all(n, 16 * kEps, [&](Isa isa, float* y, int ith, int nth) { swiglu(x.data(), b.data(), y, n, isa, ith, nth); });
}

TEST(Ops, RopeAndBinaryThreadInvariant) {
  const int64_t nt = 5, nh = 3, hd = 96;
  auto x = randn(nt * nh * hd, 9);
  std::vector<int32_t> pos = {0, 1, 7, 100, 4095};
  RopeParams p;
  p.mode = RopeMode::neox;
  p.n_rot = 64;
  check_all(nt * nh * hd, 0.0f, [&](Isa isa, float* y, int ith, int nth) {
    ASSERT_TRUE(rope(x.data(), y, pos.data(), nt, nh, hd, p, isa, ith, nth).ok());
  });
  auto b = randn(3 * hd, 10);
  check_all(15 * hd, 0.0f, [&](Isa isa, float* y, int ith, int nth) { mul(x.data(), b.data(), y, 15, hd, 3, isa, ith, nth); });
  check_all(15 * hd, 0.0f, [&](Isa isa, float* y, int ith, int nth) { add(x.data(), b.data(), y, 15, hd, 3, isa, ith, nth); });
}

TEST(Ops, GetRowsQuantisedNeedsToFloat) {
  std::vector<BlockQ4_0> src(2);
  int32_t id = 0;
  std::vector<float> dst(32);
  const Status s = get_rows(src.data(), DType::Q4_0, 2, 32, &id, 1, dst.data(), 0, 1);
  // Either dequantised through the traits table or a clear 'unsupported' -- never a crash.
  if (!s.ok()) {
    EXPECT_EQ(s.code(), ErrorCode::unsupported) << s.to_string();
  }
}

}  // namespace
}  // namespace nm::kernels
