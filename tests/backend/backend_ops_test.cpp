// Conformance test in the manner of llama.cpp's test-backend-ops: for every device the
// registry finds x every op case x dtype the device says it supports, build a one-op
// graph, fill it with fresh random inputs (seed printed; replay with NM_SEED), run it and
// compare with a scalar float64 reference written from the op's equation (GGUF block
// layouts for quantised weights). Also: NaN/Inf checks, weights and guard bytes around
// them untouched, bytes around a cpy destination untouched.
// Tolerances: abs + rel*|ref| derived from f32 epsilon (2^-24 unit roundoff u), the
// summation length and the magnitudes: a length-K dot product gets gamma_K = K*u/(1-K*u)
// times sum|a_k b_k| (Higham's bound for any summation order); transcendental built-ins
// get the OpenCL 1.2 full-profile ulp limits (exp 3, tanh 5, erf 16 ulp) times |ref|.
// Matmuls of f16 / quantised weights on a device computing in half (OpenCL with
// cl_khr_fp16, or its f32 emulation): half unit roundoff u_h = 2^-11; each term is
// rounded <= 3 times (activation to half, dequantised weight, product) and summed in
// half over <= 32 terms (31 more), so gamma_h(34) sum|a_k b_k| (worst case, linear in
// the 32 terms of a block; the sqrt(32) random-walk estimate would be ~6x tighter but
// can fail by chance), plus the f32 accumulation of the partial sums (gamma_K).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "backend/device_registry.h"
#include "core/fp16.h"
#ifdef NM_HAVE_OPENCL
#include "backend/opencl/opencl_device.h"
#endif

namespace nm {
namespace {

// Every non-CPU device's result is also compared with the CPU device's result -- the
// llama.cpp test-backend-ops arrangement. (This was off while the CPU compute kernels
// were missing from the tree; the CPU device now runs them.) The comparison covers the
// cases the CPU device supports; the ones it does not (batched/broadcast matmul,
// general broadcasting, f16 masks, ...) are listed in its "skipped" line. Both results
// are within tol of the float64 reference, so they may differ by up to 2 tol.
constexpr bool kCompareWithCpuDevice = true;

constexpr double kU = 1.0 / (1 << 24);  // f32 unit roundoff
double gamma(double k) { return k * kU / (1.0 - k * kU); }
constexpr double kUh = 1.0 / (1 << 11);  // half unit roundoff
double gamma_h(double k) { return k * kUh / (1.0 - k * kUh); }

// Whether `dev` multiplies f16 / quantised weights in (real or emulated) half.
bool half_math(const Device& dev) {
#ifdef NM_HAVE_OPENCL
  if (const auto* cl = dynamic_cast<const OpenClDevice*>(&dev)) return cl->half_math();
#endif
  (void)dev;
  return false;
}

uint64_t seed() {
  static const uint64_t s = [] {
    const char* e = std::getenv("NM_SEED");
    const uint64_t v = e ? std::strtoull(e, nullptr, 10) : std::random_device{}();
    std::printf("backend_ops_test seed: %llu (replay with NM_SEED=%llu)\n", (unsigned long long)v, (unsigned long long)v);
    return v;
  }();
  return s;
}

// Page-aligned external memory with guard bytes on both sides (for weights).
struct Guarded {
  static constexpr size_t kGuard = 4096;
  static constexpr unsigned char kPattern = 0xA5;
  explicit Guarded(size_t n) : size(n) {
    total = kGuard * 2 + (n + 4095) / 4096 * 4096;
    base = static_cast<unsigned char*>(std::aligned_alloc(4096, total));
    std::memset(base, kPattern, total);
  }
  ~Guarded() { std::free(base); }
  unsigned char* data() const { return base + kGuard; }
  bool guards_intact() const {
    for (size_t i = 0; i < total; ++i) {
      if ((i < kGuard || i >= kGuard + size) && base[i] != kPattern) return false;
    }
    return true;
  }
  unsigned char* base;
  size_t size, total;
};

struct CaseData {
  std::mt19937_64 rng;
  Graph g;
  struct In { NodeId id; std::vector<unsigned char> bytes; };
  std::vector<In> inputs;
  std::vector<std::unique_ptr<Guarded>> weights;
  std::vector<std::vector<unsigned char>> weight_copies;
  NodeId out = kInvalidNode;
  std::vector<double> ref, tol;
  std::pair<size_t, size_t> window{0, 0};  // bytes [first, second) of weights[0] a cpy may write
  bool half_math = false;                   // set before build: tolerances for half arithmetic

  float uniform(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(rng); }
  std::vector<float> rand_f32(size_t n, float lo = -1.f, float hi = 1.f) {
    std::vector<float> v(n);
    for (float& x : v) x = uniform(lo, hi);
    return v;
  }
  NodeId input_f32(std::array<int64_t, 4> ne, std::vector<float>* values, float lo = -1.f, float hi = 1.f) {
    *values = rand_f32((size_t)(ne[0] * ne[1] * ne[2] * ne[3]), lo, hi);
    return input_raw(DType::F32, ne, values->data(), values->size() * 4);
  }
  NodeId input_raw(DType t, std::array<int64_t, 4> ne, const void* p, size_t n) {
    const NodeId id = g.input(t, ne);
    inputs.push_back({id, std::vector<unsigned char>((const unsigned char*)p, (const unsigned char*)p + n)});
    return id;
  }
  NodeId weight_raw(DType t, std::array<int64_t, 4> ne, const void* p, size_t n) {
    auto w = std::make_unique<Guarded>(n);
    std::memcpy(w->data(), p, n);
    weight_copies.emplace_back((const unsigned char*)p, (const unsigned char*)p + n);
    const NodeId id = g.weight(Tensor::make(t, ne, w->data()));
    weights.push_back(std::move(w));
    return id;
  }
};

// ---- float64 dequantisation from the GGUF block layouts -------------------------------
double h2d(const unsigned char* p) { fp16_t h; std::memcpy(&h, p, 2); return fp16_to_fp32(h); }

// mag (optional): per element, the magnitudes of the terms that form it in f32/half
// arithmetic: |d sc q| + |dmin m| for Q4_K, |y| otherwise.
std::vector<double> dequant_row(DType t, const unsigned char* p, int64_t n, std::vector<double>* mag = nullptr) {
  std::vector<double> y((size_t)n);
  if (mag) mag->assign((size_t)n, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    switch (t) {
      case DType::F32: { float f; std::memcpy(&f, p + 4 * i, 4); y[(size_t)i] = f; break; }
      case DType::F16: y[(size_t)i] = h2d(p + 2 * i); break;
      case DType::Q8_0: { const unsigned char* b = p + (i / 32) * 34; y[(size_t)i] = h2d(b) * (double)(int8_t)b[2 + i % 32]; break; }
      case DType::Q4_0: {
        const unsigned char* b = p + (i / 32) * 18;
        const int j = (int)(i % 32);
        const int q = j < 16 ? (b[2 + j] & 0xF) : (b[2 + j - 16] >> 4);
        y[(size_t)i] = h2d(b) * (q - 8);
        break;
      }
      case DType::Q4_K: {
        const unsigned char* b = p + (i / 256) * 144;
        const unsigned char* sc = b + 4;
        const int j = (int)(i % 256), sub = j / 32;
        int s, m;
        if (sub < 4) { s = sc[sub] & 63; m = sc[sub + 4] & 63; }
        else { s = (sc[sub + 4] & 0xF) | ((sc[sub - 4] >> 6) << 4); m = (sc[sub + 4] >> 4) | ((sc[sub] >> 6) << 4); }
        const unsigned char q = b[16 + (j / 64) * 32 + j % 32];
        y[(size_t)i] = h2d(b) * s * ((sub & 1) ? (q >> 4) : (q & 0xF)) - h2d(b + 2) * m;
        if (mag) (*mag)[(size_t)i] = std::abs(h2d(b) * s * ((sub & 1) ? (q >> 4) : (q & 0xF))) + std::abs(h2d(b + 2) * m);
        break;
      }
      default: ADD_FAILURE() << "no reference dequantiser"; break;
    }
    if (mag && t != DType::Q4_K) (*mag)[(size_t)i] = std::abs(y[(size_t)i]);
  }
  return y;
}

// Random valid bytes of n elements of type t (scales kept small and finite).
std::vector<unsigned char> random_bytes(DType t, int64_t n, std::mt19937_64& rng) {
  std::vector<unsigned char> v(row_size(t, n));
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  auto put_h = [&](size_t at, float f) { const fp16_t h = fp32_to_fp16(f); std::memcpy(&v[at], &h, 2); };
  for (auto& c : v) c = (unsigned char)rng();
  if (t == DType::F32) for (int64_t i = 0; i < n; ++i) { const float f = u(rng); std::memcpy(&v[(size_t)i * 4], &f, 4); }
  if (t == DType::F16) for (int64_t i = 0; i < n; ++i) put_h((size_t)i * 2, u(rng));
  if (t == DType::Q8_0) for (int64_t b = 0; b < n / 32; ++b) put_h((size_t)b * 34, u(rng) * 0.02f);
  if (t == DType::Q4_0) for (int64_t b = 0; b < n / 32; ++b) put_h((size_t)b * 18, u(rng) * 0.1f);
  if (t == DType::Q4_K) for (int64_t b = 0; b < n / 256; ++b) { put_h((size_t)b * 144, std::abs(u(rng)) * 0.01f); put_h((size_t)b * 144 + 2, std::abs(u(rng)) * 0.01f); }
  return v;
}

struct OpCase {
  std::string name;
  std::function<void(CaseData&)> build;  // builds g, sets out, ref, tol
};

double silu(double x) { return x / (1 + std::exp(-x)); }

OpCase unary(const char* name, std::function<NodeId(Graph&, NodeId)> op, std::function<double(double)> f, double ulps) {
  return {name, [=](CaseData& c) {
    std::vector<float> x;
    const NodeId a = c.input_f32({67, 5, 3, 1}, &x, -4.f, 4.f);
    c.out = op(c.g, a);
    for (float v : x) {
      const double r = f(v);
      c.ref.push_back(r);
      c.tol.push_back(ulps * kU * 2 * (std::abs(r) + std::abs(v)) + 1e-30);
    }
  }};
}

// matmul of a [K, N, 2, 1] (type t) with b f32 [K, M, 4, 1]: a broadcast over dim 2.
// `positive`: no broadcast (a [K, N, 1, 1]) and every b_k takes the sign of a_k (rows of
// a same for all n: use N = 1), so all products are >= 0 and a long row's sum is large
// against its terms: a sum kept in half (not f32) would stop growing and fail the bound.
OpCase matmul_case(const std::string& name, DType t, int K, int N, int M, bool positive = false) {
  return {name, [t, K, N, M, positive](CaseData& c) {
    const int a2 = positive ? 1 : 2, b2 = positive ? 1 : 4;
    std::vector<unsigned char> wa = random_bytes(t, (int64_t)K * N * a2, c.rng);
    const NodeId ia = c.weight_raw(t, {K, N, a2, 1}, wa.data(), wa.size());
    const size_t rs = row_size(t, K);
    std::vector<std::vector<double>> rows((size_t)N * a2), mags((size_t)N * a2);
    for (size_t r = 0; r < rows.size(); ++r) rows[r] = dequant_row(t, wa.data() + r * rs, K, &mags[r]);
    std::vector<float> b = c.rand_f32((size_t)K * M * b2);
    if (positive) {
      for (size_t i = 0; i < b.size(); ++i) b[i] = (rows[0][i % (size_t)K] < 0 ? -1.f : 1.f) * (0.25f + 0.75f * std::abs(b[i]));
    }
    const NodeId ib = c.input_raw(DType::F32, {K, M, b2, 1}, b.data(), b.size() * 4);
    c.out = c.g.matmul(ia, ib);
    const bool half = c.half_math && t != DType::F32;
    for (int i2 = 0; i2 < b2; ++i2) for (int m = 0; m < M; ++m) for (int n = 0; n < N; ++n) {
      const std::vector<double>& a = rows[(size_t)(n + N * (i2 / (b2 / a2)))];
      const std::vector<double>& mag = mags[(size_t)(n + N * (i2 / (b2 / a2)))];
      double s = 0, sa = 0, sm = 0;
      for (int k = 0; k < K; ++k) {
        const double x = b[(size_t)(k + K * (m + M * i2))], p = a[(size_t)k] * x;
        s += p;
        sa += std::abs(p);
        sm += mag[(size_t)k] * std::abs(x);
      }
      c.ref.push_back(s);
      // Q4_K forms d*sc*q - dmin*m: 3 more roundings of terms of size mag (f32 or half).
      if (half) c.tol.push_back((gamma_h(34) + gamma(K + 2)) * sa + (t == DType::Q4_K ? gamma_h(3) * sm : 0) + 1e-30);
      else c.tol.push_back(gamma(K + 2) * sa + (t == DType::Q4_K ? gamma(3) * sm : 0) + 1e-30);
    }
  }};
}

std::vector<OpCase> all_cases() {
  std::vector<OpCase> cases;
  // ---- element-wise
  cases.push_back(unary("silu", [](Graph& g, NodeId a) { return g.silu(a); }, silu, 8));
  cases.push_back(unary("gelu", [](Graph& g, NodeId a) { return g.gelu(a); },
                        [](double x) { return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))); }, 16));
  cases.push_back(unary("gelu_erf", [](Graph& g, NodeId a) { return g.gelu_erf(a); },
                        [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }, 32));
  cases.push_back(unary("gelu_quick", [](Graph& g, NodeId a) { return g.gelu_quick(a); },
                        [](double x) { return x / (1 + std::exp(-1.702 * x)); }, 8));
  cases.push_back(unary("scale", [](Graph& g, NodeId a) { return g.scale(a, 0.37f); }, [](double x) { return x * (double)0.37f; }, 1));
  // speech synthesis (VITS): the graph-level element ops; the rest (unfold1d, col2im1d,
  // rel_attention, spline_coupling, ...) are checked against numpy (py.test_speech_ops).
  cases.push_back(unary("relu", [](Graph& g, NodeId a) { return g.relu(a); }, [](double x) { return x > 0 ? x : 0.0; }, 0));
  cases.push_back(unary("tanh", [](Graph& g, NodeId a) { return g.tanh(a); }, [](double x) { return std::tanh(x); }, 4));
  cases.push_back(unary("leaky_relu", [](Graph& g, NodeId a) { return g.leaky_relu(a, 0.1f); },
                        [](double x) { return x >= 0 ? x : x * (double)0.1f; }, 1));
  for (const char* op : {"add", "mul"}) {
    cases.push_back({std::string(op) + "_broadcast", [op](CaseData& c) {
      std::vector<float> a, b;
      const NodeId ia = c.input_f32({32, 6, 4, 2}, &a);
      const NodeId ib = c.input_f32({32, 3, 1, 2}, &b);
      const bool is_add = op[0] == 'a';
      c.out = is_add ? c.g.add(ia, ib) : c.g.mul(ia, ib);
      for (int i3 = 0; i3 < 2; ++i3) for (int i2 = 0; i2 < 4; ++i2) for (int i1 = 0; i1 < 6; ++i1) for (int i0 = 0; i0 < 32; ++i0) {
        const double x = a[(size_t)(i0 + 32 * (i1 + 6 * (i2 + 4 * i3)))], y = b[(size_t)(i0 + 32 * (i1 % 3 + 3 * i3))];
        const double r = is_add ? x + y : x * y;
        c.ref.push_back(r);
        c.tol.push_back(kU * std::abs(r) + 1e-30);
      }
    }});
  }
  cases.push_back({"swiglu", [](CaseData& c) {
    std::vector<float> a, b;
    const NodeId ia = c.input_f32({48, 7, 1, 1}, &a, -4, 4), ib = c.input_f32({48, 7, 1, 1}, &b);
    c.out = c.g.swiglu(ia, ib);
    for (size_t i = 0; i < a.size(); ++i) { const double r = silu(a[i]) * b[i]; c.ref.push_back(r); c.tol.push_back(16 * kU * (std::abs(r) + std::abs(a[i] * b[i]))); }
  }});
  // ---- norms and softmax
  for (int with_w = 0; with_w < 2; ++with_w) {
    cases.push_back({std::string("rms_norm") + (with_w ? "_w" : ""), [with_w](CaseData& c) {
      const int n0 = 300, rows = 5;
      std::vector<float> x, w;
      const NodeId ix = c.input_f32({n0, rows, 1, 1}, &x);
      const NodeId iw = with_w ? c.input_f32({n0, 1, 1, 1}, &w) : kInvalidNode;
      c.out = c.g.rms_norm(ix, 1e-5f, iw);
      for (int r = 0; r < rows; ++r) {
        double ss = 0; for (int i = 0; i < n0; ++i) ss += (double)x[(size_t)(r * n0 + i)] * x[(size_t)(r * n0 + i)];
        const double s = 1 / std::sqrt(ss / n0 + (double)1e-5f);
        for (int i = 0; i < n0; ++i) { const double v = x[(size_t)(r * n0 + i)] * s * (with_w ? w[(size_t)i] : 1.0); c.ref.push_back(v); c.tol.push_back(gamma(n0 + 8) * (std::abs(v) + s * 1e-3)); }
      }
    }});
  }
  cases.push_back({"layer_norm_wb", [](CaseData& c) {
    const int n0 = 200, rows = 4;
    std::vector<float> x, w, b;
    const NodeId ix = c.input_f32({n0, rows, 1, 1}, &x), iw = c.input_f32({n0, 1, 1, 1}, &w), ib = c.input_f32({n0, 1, 1, 1}, &b);
    c.out = c.g.layer_norm(ix, 1e-5f, iw, ib);
    for (int r = 0; r < rows; ++r) {
      double m = 0, v = 0;
      for (int i = 0; i < n0; ++i) m += x[(size_t)(r * n0 + i)];
      m /= n0;
      for (int i = 0; i < n0; ++i) v += (x[(size_t)(r * n0 + i)] - m) * (x[(size_t)(r * n0 + i)] - m);
      const double s = 1 / std::sqrt(v / n0 + (double)1e-5f);
      for (int i = 0; i < n0; ++i) { const double y = (x[(size_t)(r * n0 + i)] - m) * s * w[(size_t)i] + b[(size_t)i]; c.ref.push_back(y); c.tol.push_back(gamma(2 * n0 + 8) * (std::abs(y) + s * 2 + 2)); }
    }
  }});
  for (int mask_type = 0; mask_type < 3; ++mask_type) {  // none, f32, f16 causal mask
    cases.push_back({std::string("softmax") + (mask_type == 0 ? "" : mask_type == 1 ? "_mask_f32" : "_mask_f16"), [mask_type](CaseData& c) {
      const int n0 = 77, n1 = 6, n2 = 3;
      std::vector<float> x;
      const NodeId ix = c.input_f32({n0, n1, n2, 1}, &x, -3, 3);
      std::vector<double> mask((size_t)n0 * n1, 0.0);
      NodeId im = kInvalidNode;
      if (mask_type) {
        std::vector<float> mf((size_t)n0 * n1);
        std::vector<fp16_t> mh((size_t)n0 * n1);
        for (int r = 0; r < n1; ++r) for (int i = 0; i < n0; ++i) {
          const float v = i > n0 - n1 + r ? -INFINITY : (float)c.uniform(-1, 1);
          mh[(size_t)(r * n0 + i)] = fp32_to_fp16(v);
          mf[(size_t)(r * n0 + i)] = mask_type == 2 ? fp16_to_fp32(mh[(size_t)(r * n0 + i)]) : v;
          mask[(size_t)(r * n0 + i)] = mf[(size_t)(r * n0 + i)];
        }
        im = mask_type == 1 ? c.input_raw(DType::F32, {n0, n1, 1, 1}, mf.data(), mf.size() * 4)
                            : c.input_raw(DType::F16, {n0, n1, 1, 1}, mh.data(), mh.size() * 2);
      }
      const float scale = 0.8f;
      c.out = c.g.softmax(ix, scale, im);
      for (int r = 0; r < n1 * n2; ++r) {
        std::vector<double> z((size_t)n0);
        double mx = -INFINITY, sum = 0;
        for (int i = 0; i < n0; ++i) { z[(size_t)i] = x[(size_t)(r * n0 + i)] * (double)scale + mask[(size_t)((r % n1) * n0 + i)]; mx = std::max(mx, z[(size_t)i]); }
        for (double& v : z) { v = std::exp(v - mx); sum += v; }
        for (double v : z) { c.ref.push_back(v / sum); c.tol.push_back(gamma(n0 + 16) * 4 * (v / sum) + 1e-9 * kU); }
      }
    }});
  }
  // ---- rope
  for (int neox = 0; neox < 2; ++neox) {
    cases.push_back({neox ? "rope_neox" : "rope_normal", [neox](CaseData& c) {
      const int hd = 64, nh = 3, nt = 5, n_dims = 48;
      std::vector<float> x;
      const NodeId ix = c.input_f32({hd, nh, nt, 1}, &x);
      std::vector<int32_t> pos((size_t)nt);
      for (int t = 0; t < nt; ++t) pos[(size_t)t] = (int32_t)(c.rng() % 200);
      const NodeId ip = c.input_raw(DType::I32, {nt, 1, 1, 1}, pos.data(), pos.size() * 4);
      RopeParams p;
      p.n_dims = n_dims; p.mode = neox ? RopeMode::neox : RopeMode::normal; p.freq_base = 10000.f; p.freq_scale = 0.5f;
      c.out = c.g.rope(ix, ip, p);
      for (int t = 0; t < nt; ++t) for (int h = 0; h < nh; ++h) {
        const float* xr = &x[(size_t)((t * nh + h) * hd)];
        std::vector<double> y(xr, xr + hd);
        for (int i = 0; i < n_dims / 2; ++i) {
          const double th = pos[(size_t)t] * (double)p.freq_scale * std::pow((double)p.freq_base, -2.0 * i / n_dims);
          const int i0 = neox ? i : 2 * i, i1 = neox ? i + n_dims / 2 : 2 * i + 1;
          y[(size_t)i0] = xr[i0] * std::cos(th) - xr[i1] * std::sin(th);
          y[(size_t)i1] = xr[i0] * std::sin(th) + xr[i1] * std::cos(th);
        }
        // theta is formed in f32 (pow: <= 16 ulp): |d theta| <= 32 u |theta|, times |x|.
        for (double v : y) { c.ref.push_back(v); c.tol.push_back(32 * kU * (200 * 0.5 + 4) * 2 + 4 * kU * std::abs(v)); }
      }
    }});
  }
  // ---- matmul with fused dequantisation, broadcast over dim 2. Shapes: decode-like
  // (M = 6: one full and one partial group of 4 rows), M = 1, and prefill-like (M = 45,
  // N = 37: the tiled kernel, neither a multiple of its 64 x 64 tile; f32/f16 with K
  // not a multiple of its 32-step).
  for (DType t : {DType::F32, DType::F16, DType::Q8_0, DType::Q4_0, DType::Q4_K}) {
    const bool fp = t == DType::F32 || t == DType::F16;
    const int k_big = t == DType::Q4_K ? 512 : fp ? 100 : 160;
    cases.push_back(matmul_case(std::string("matmul_") + std::string(dtype_name(t)), t, 512, 9, 6));
    cases.push_back(matmul_case(std::string("matmul_m1_") + std::string(dtype_name(t)), t, t == DType::Q4_K ? 256 : 96, 13, 1));
    cases.push_back(matmul_case(std::string("matmul_tiled_") + std::string(dtype_name(t)), t, k_big, 37, 45));
    for (int m : {1, 9}) {  // matrix-vector and tiled kernels: a long row of positive products
      cases.push_back(matmul_case("matmul_long_positive_m" + std::to_string(m) + "_" + std::string(dtype_name(t)), t, 1 << 17, 1, m, true));
    }
  }
  // ---- get_rows
  for (DType t : {DType::F32, DType::F16, DType::Q8_0, DType::Q4_0}) {
    cases.push_back({std::string("get_rows_") + std::string(dtype_name(t)), [t](CaseData& c) {
      const int n_embd = 64, n_rows = 10, n = 6;
      std::vector<unsigned char> tab = random_bytes(t, (int64_t)n_embd * n_rows, c.rng);
      const NodeId it = c.weight_raw(t, {n_embd, n_rows, 1, 1}, tab.data(), tab.size());
      std::vector<int32_t> ids((size_t)n);
      for (auto& i : ids) i = (int32_t)(c.rng() % n_rows);
      const NodeId ii = c.input_raw(DType::I32, {n, 1, 1, 1}, ids.data(), ids.size() * 4);
      c.out = c.g.get_rows(it, ii);
      for (int r : ids) for (double v : dequant_row(t, tab.data() + (size_t)r * row_size(t, n_embd), n_embd)) { c.ref.push_back(v); c.tol.push_back(0); }
    }});
  }
  // ---- attention (online softmax), GQA, causal mask, k/v f32 or f16, permuted q
  for (DType kv : {DType::F32, DType::F16, DType::Q8_0}) {
    cases.push_back({std::string("attention_kv_") + std::string(dtype_name(kv)), [kv](CaseData& c) {
      const int D = 64, T = 4, H = 4, Hkv = 2, n_kv = 9;
      std::vector<float> q;
      const NodeId iq0 = c.input_f32({D, H, T, 1}, &q);  // stored [D, H, T]: permute to [D, T, H]
      const NodeId iq = c.g.permute(iq0, {0, 2, 1, 3});
      auto kvdata = [&](int64_t n) { return random_bytes(kv, n, c.rng); };
      std::vector<unsigned char> kb = kvdata((int64_t)D * n_kv * Hkv), vb = kvdata((int64_t)D * n_kv * Hkv);
      const NodeId ik = c.input_raw(kv, {D, n_kv, Hkv, 1}, kb.data(), kb.size());
      const NodeId iv = c.input_raw(kv, {D, n_kv, Hkv, 1}, vb.data(), vb.size());
      std::vector<float> mask((size_t)n_kv * T);
      for (int t = 0; t < T; ++t) for (int j = 0; j < n_kv; ++j) mask[(size_t)(t * n_kv + j)] = j > n_kv - T + t ? -INFINITY : 0.f;
      const NodeId im = c.input_raw(DType::F32, {n_kv, T, 1, 1}, mask.data(), mask.size() * 4);
      const float scale = 0.125f;
      c.out = c.g.attention(iq, ik, iv, scale, im);
      const std::vector<double> k = dequant_row(kv, kb.data(), (int64_t)D * n_kv * Hkv), v = dequant_row(kv, vb.data(), (int64_t)D * n_kv * Hkv);
      double kmax = 1, vmax = 1;  // q8_0 values reach 2.56: score errors scale with |k|, output errors with |v|
      for (size_t i = 0; i < k.size(); ++i) { kmax = std::max(kmax, std::abs(k[i])); vmax = std::max(vmax, std::abs(v[i])); }
      for (int t = 0; t < T; ++t) for (int h = 0; h < H; ++h) {
        const int hk = h / (H / Hkv);
        std::vector<double> s((size_t)n_kv);
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j < n_kv; ++j) {
          double d = 0;
          for (int i = 0; i < D; ++i) d += q[(size_t)(i + D * (h + H * t))] * k[(size_t)(i + D * (j + n_kv * hk))];
          s[(size_t)j] = d * scale + mask[(size_t)(t * n_kv + j)];
          mx = std::max(mx, s[(size_t)j]);
        }
        for (double& x : s) { x = std::exp(x - mx); sum += x; }
        for (int i = 0; i < D; ++i) {
          double o = 0;
          for (int j = 0; j < n_kv; ++j) o += s[(size_t)j] / sum * v[(size_t)(i + D * (j + n_kv * hk))];
          c.ref.push_back(o);
          c.tol.push_back(gamma(4 * (D + n_kv) + 16) * 4 * kmax * vmax);  // |q| <= 1: dots <= D |k|, weights sum to 1
        }
      }
    }});
  }
  // ---- data movement: cont with conversion, cpy into a strided window of a weight
  for (DType from : {DType::F32, DType::F16}) for (DType to : {DType::F32, DType::F16}) {
    cases.push_back({std::string("cont_transposed_") + std::string(dtype_name(from)) + "_" + std::string(dtype_name(to)), [from, to](CaseData& c) {
      const int n0 = 13, n1 = 7;
      std::vector<unsigned char> xb = random_bytes(from, (int64_t)n0 * n1, c.rng);
      const NodeId ix = c.input_raw(from, {n0, n1, 1, 1}, xb.data(), xb.size());
      c.out = c.g.cont(c.g.transpose(ix), to);
      const std::vector<double> x = dequant_row(from, xb.data(), (int64_t)n0 * n1);
      for (int i1 = 0; i1 < n0; ++i1) for (int i0 = 0; i0 < n1; ++i0) {
        const double v = x[(size_t)(i1 + n0 * i0)];
        c.ref.push_back(v);
        c.tol.push_back(to == DType::F16 && from == DType::F32 ? std::abs(v) / 2048 + 1.0 / (1 << 25) : 0);  // f16 half-ulp
      }
    }});
  }
  for (DType t : {DType::F16, DType::Q8_0}) {
    cases.push_back({"cpy_into_weight_window_" + std::string(dtype_name(t)), [t](CaseData& c) {
      // KV-cache style: write 3 rows of f32 into rows 2..4 of a [64, 8] cache of type t.
      // f16: half an ulp. q8_0, as ggml's quantize_row_q8_0: d = amax/127 per block of 32,
      // q = round(x/d), d stored as f16: error <= d/2 (rounding of x/d) + 127 |d - f16(d)|
      // <= d (1/2 + 127/2048), plus f32 roundings (1e-4 d).
      const int64_t n0 = 64;
      const size_t rs = row_size(t, n0);
      std::vector<unsigned char> cache = random_bytes(t, n0 * 8, c.rng);
      const NodeId ic = c.weight_raw(t, {n0, 8, 1, 1}, cache.data(), cache.size());
      std::vector<float> x;
      const NodeId ix = c.input_f32({n0, 3, 1, 1}, &x);
      const NodeId win = c.g.view(ic, {n0, 3, 1, 1}, {type_traits(t)->type_size, rs, 3 * rs, 3 * rs}, 2 * rs);
      c.out = c.g.cpy(ix, win);
      for (size_t b = 0; b < x.size() / 32; ++b) {
        double amax = 0;
        for (size_t j = 0; j < 32; ++j) amax = std::max(amax, (double)std::abs(x[b * 32 + j]));
        for (size_t j = 0; j < 32; ++j) {
          const double v = x[b * 32 + j];
          c.ref.push_back(v);
          c.tol.push_back(t == DType::F16 ? std::abs(v) / 2048 + 1.0 / (1 << 25) : amax / 127 * (0.5 + 127.0 / 2048 + 1e-4));
        }
      }
      c.window = {2 * rs, 5 * rs};  // rows 0-1 and 5-7 of the cache must stay as they were
    }});
  }
  // ---- concat
  for (DType t : {DType::F32, DType::F16}) for (int dim : {0, 1, 2}) {
    cases.push_back({"concat_" + std::string(dtype_name(t)) + "_dim" + std::to_string(dim), [t, dim](CaseData& c) {
      std::array<int64_t, 4> na{6, 5, 3, 2}, nb = na;
      nb[(size_t)dim] = 4;
      std::vector<unsigned char> ab = random_bytes(t, na[0] * na[1] * na[2] * na[3], c.rng), bb = random_bytes(t, nb[0] * nb[1] * nb[2] * nb[3], c.rng);
      const NodeId ia = c.input_raw(t, na, ab.data(), ab.size()), ib = c.input_raw(t, nb, bb.data(), bb.size());
      c.out = c.g.concat(ia, ib, dim);
      const std::vector<double> a = dequant_row(t, ab.data(), (int64_t)ab.size() / (t == DType::F32 ? 4 : 2));
      const std::vector<double> b = dequant_row(t, bb.data(), (int64_t)bb.size() / (t == DType::F32 ? 4 : 2));
      std::array<int64_t, 4> no = na;
      no[(size_t)dim] += nb[(size_t)dim];
      for (int64_t i3 = 0; i3 < no[3]; ++i3) for (int64_t i2 = 0; i2 < no[2]; ++i2) for (int64_t i1 = 0; i1 < no[1]; ++i1) for (int64_t i0 = 0; i0 < no[0]; ++i0) {
        std::array<int64_t, 4> i{i0, i1, i2, i3};
        const bool from_a = i[(size_t)dim] < na[(size_t)dim];
        if (!from_a) i[(size_t)dim] -= na[(size_t)dim];
        const auto& ne = from_a ? na : nb;
        c.ref.push_back((from_a ? a : b)[(size_t)(i[0] + ne[0] * (i[1] + ne[1] * (i[2] + ne[2] * i[3])))]);
        c.tol.push_back(0);
      }
    }});
  }
  // ---- im2col / conv (ggml layouts), stride, padding and dilation exercised
  for (int which = 0; which < 5; ++which) {
    // 0: im2col 2-D -> f32, 1: im2col 2-D -> f16, 2: conv2d f32 kernel, 3: conv2d f16 kernel, 4: conv1d
    static const char* kNames[] = {"im2col_f32", "im2col_f16", "conv2d_kf32", "conv2d_kf16", "conv1d"};
    cases.push_back({kNames[which], [which](CaseData& c) {
      const bool is_2d = which != 4;
      const int64_t KW = 3, KH = is_2d ? 2 : 1, IC = 3, OC = 4, IW = 9, IH = is_2d ? 7 : 1, N = 2;
      ConvParams p;
      p.s0 = 2; p.s1 = is_2d ? 1 : 1; p.p0 = 1; p.p1 = is_2d ? 1 : 0; p.d0 = 2; p.d1 = 1; p.is_2d = is_2d;
      p.dst_type = which == 1 ? DType::F16 : DType::F32;
      const DType kt = which == 3 ? DType::F16 : DType::F32;
      std::vector<unsigned char> kb = random_bytes(kt, KW * KH * IC * OC, c.rng);
      const std::array<int64_t, 4> kne = is_2d ? std::array<int64_t, 4>{KW, KH, IC, OC} : std::array<int64_t, 4>{KW, IC, OC, 1};
      const std::array<int64_t, 4> xne = is_2d ? std::array<int64_t, 4>{IW, IH, IC, N} : std::array<int64_t, 4>{IW, IC, N, 1};
      const NodeId ik = c.weight_raw(kt, kne, kb.data(), kb.size());
      std::vector<float> x;
      const NodeId ix = c.input_f32(xne, &x);
      c.out = which <= 1 ? c.g.im2col(ik, ix, p) : is_2d ? c.g.conv2d(ik, ix, p) : c.g.conv1d(ik, ix, p);
      const std::vector<double> k = dequant_row(kt, kb.data(), KW * KH * IC * OC);
      const int64_t OW = (IW + 2 * p.p0 - p.d0 * (KW - 1) - 1) / p.s0 + 1;
      const int64_t OH = is_2d ? (IH + 2 * p.p1 - p.d1 * (KH - 1) - 1) / p.s1 + 1 : 1;
      auto in = [&](int64_t ix_, int64_t iy, int64_t ic, int64_t n) -> double {
        if (ix_ < 0 || ix_ >= IW || iy < 0 || iy >= IH) return 0.0;
        return x[(size_t)(ix_ + IW * (iy + IH * (ic + IC * n)))];
      };
      if (which <= 1) {
        for (int64_t n = 0; n < N; ++n) for (int64_t oh = 0; oh < OH; ++oh) for (int64_t ow = 0; ow < OW; ++ow)
          for (int64_t ic = 0; ic < IC; ++ic) for (int64_t kh = 0; kh < KH; ++kh) for (int64_t kw = 0; kw < KW; ++kw) {
            const double v = in(ow * p.s0 + kw * p.d0 - p.p0, oh * p.s1 + kh * p.d1 - p.p1, ic, n);
            c.ref.push_back(v);
            c.tol.push_back(which == 1 ? std::abs(v) / 2048 + 1.0 / (1 << 25) : 0);
          }
        return;
      }
      for (int64_t n = 0; n < N; ++n) for (int64_t oc = 0; oc < OC; ++oc) for (int64_t oh = 0; oh < OH; ++oh) for (int64_t ow = 0; ow < OW; ++ow) {
        double s = 0, sa = 0;
        for (int64_t ic = 0; ic < IC; ++ic) for (int64_t kh = 0; kh < KH; ++kh) for (int64_t kw = 0; kw < KW; ++kw) {
          const double t = k[(size_t)(kw + KW * (kh + KH * (ic + IC * oc)))] * in(ow * p.s0 + kw * p.d0 - p.p0, oh * p.s1 + kh * p.d1 - p.p1, ic, n);
          s += t;
          sa += std::abs(t);
        }
        c.ref.push_back(s);
        c.tol.push_back(gamma((double)(IC * KH * KW) + 2) * sa + 1e-30);
      }
    }});
  }
  return cases;
}

// Runs `c` on `dev`; returns false (with a reason) if the device does not support it.
struct RunResult { bool ran = false; std::string why; std::vector<double> out; };

RunResult run_case(Device& dev, const CaseData& c) {
  RunResult rr;
  for (const Node& n : c.g.nodes()) {
    if (!dev.supports(c.g, n)) { rr.why = std::string("unsupported ") + op_name(n.op); return rr; }
  }
  Graph g = c.g;
  const NodeId out = g.output(c.out);
  auto exe = dev.prepare(std::move(g));
  if (!exe.ok()) { ADD_FAILURE() << dev.name() << ": prepare: " << exe.status().to_string(); return rr; }
  for (const auto& in : c.inputs) std::memcpy((*exe)->tensor(in.id).data, in.bytes.data(), in.bytes.size());
  const Status st = dev.run(**exe);
  if (!st.ok()) { ADD_FAILURE() << dev.name() << ": run: " << st.to_string(); return rr; }
  const Tensor& t = (*exe)->tensor(out);
  for (int64_t i3 = 0; i3 < t.ne[3]; ++i3) for (int64_t i2 = 0; i2 < t.ne[2]; ++i2) for (int64_t i1 = 0; i1 < t.ne[1]; ++i1) {
    const std::vector<double> row = dequant_row(t.type, static_cast<const unsigned char*>(t.row(i1, i2, i3)), t.ne[0]);
    rr.out.insert(rr.out.end(), row.begin(), row.end());
  }
  rr.ran = true;
  return rr;
}

void check_close(const std::string& what, const std::vector<double>& got, const std::vector<double>& ref, const std::vector<double>& tol) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < got.size() && bad < 5; ++i) {
    if (!std::isfinite(got[i]) && std::isfinite(ref[i])) { ADD_FAILURE() << what << " [" << i << "] non-finite " << got[i]; ++bad; continue; }
    if (std::abs(got[i] - ref[i]) > tol[i]) {
      ADD_FAILURE() << what << " [" << i << "] got " << got[i] << " want " << ref[i] << " (tol " << tol[i] << ")";
      ++bad;
    }
  }
}

TEST(BackendOps, EveryDeviceEveryOpMatchesReference) {
  DeviceRegistry reg = DeviceRegistry::create();
  std::vector<OpCase> cases = all_cases();
  int ran = 0, vs_cpu = 0;
  for (const auto& dev : reg.devices()) {
    std::string skipped;
    for (size_t ci = 0; ci < cases.size(); ++ci) {
      CaseData c;
      c.rng.seed(seed() + ci);
      c.half_math = half_math(*dev);
      cases[ci].build(c);
      if (!c.g.status().ok()) { skipped += " " + cases[ci].name + " (graph: " + c.g.status().message() + ")"; continue; }
      ASSERT_EQ(c.ref.size(), (size_t)c.g.node(c.out).t.n_elements()) << cases[ci].name;
      const std::string what = dev->name() + " " + cases[ci].name;
      RunResult r = run_case(*dev, c);
      if (!r.ran) { if (!r.why.empty()) skipped += " " + cases[ci].name; continue; }
      ++ran;
      check_close(what, r.out, c.ref, c.tol);
      // Weights (external memory) and the guard pages around them are untouched, except
      // the window a cpy wrote.
      for (size_t w = 0; w < c.weights.size(); ++w) {
        EXPECT_TRUE(c.weights[w]->guards_intact()) << what << ": bytes around a weight changed";
        if (w == 0 && c.window.second > c.window.first) {
          const unsigned char* p = c.weights[w]->data();
          const auto [lo, hi] = c.window;
          EXPECT_EQ(std::memcmp(p, c.weight_copies[w].data(), lo), 0) << what << ": cache rows before the window changed";
          EXPECT_EQ(std::memcmp(p + hi, c.weight_copies[w].data() + hi, c.weight_copies[w].size() - hi), 0)
              << what << ": rows after the window changed";
        } else {
          EXPECT_EQ(std::memcmp(c.weights[w]->data(), c.weight_copies[w].data(), c.weight_copies[w].size()), 0) << what << ": weight changed";
        }
      }
      if (kCompareWithCpuDevice && dev.get() != &reg.cpu()) {
        RunResult cpu = run_case(reg.cpu(), c);
        std::vector<double> tol2(c.tol);
        for (double& t : tol2) t *= 2;
        if (cpu.ran) {
          check_close(what + " vs cpu", r.out, cpu.out, tol2);
          ++vs_cpu;
        }
      }
    }
    std::printf("[%s] %s: skipped (unsupported here):%s\n", dev->name().c_str(), dev->description().c_str(), skipped.c_str());
  }
  EXPECT_GT(ran, 0);
  std::printf("cases compared with the cpu device: %d\n", vs_cpu);
  if (kCompareWithCpuDevice && reg.devices().size() > 1) {
    EXPECT_GT(vs_cpu, 0);
  }
}

// Every matmul kernel built each way the OpenCL device can build it: f32 arithmetic,
// emulated half (on every device, so the half algorithm is checked on PoCL too) and
// real half where the device reports cl_khr_fp16. Half results must be within the half
// bound and, as a check that the half path really ran, outside the f32 bound somewhere.
TEST(BackendOps, OpenClMatmulInEachArithmetic) {
#ifdef NM_HAVE_OPENCL
  std::vector<OpCase> cases;
  for (OpCase& c : all_cases()) {
    if (c.name.rfind("matmul", 0) == 0) cases.push_back(std::move(c));
  }
  ASSERT_FALSE(cases.empty());
  for (ClHalfMath mode : {ClHalfMath::off, ClHalfMath::emulate, ClHalfMath::device}) {
    OpenClOptions o;
    o.half_math = mode;
    auto dev = OpenClDevice::create("opencl", o);
    if (!dev.ok()) GTEST_SKIP() << "no OpenCL device: " << dev.status().message();
    if (mode == ClHalfMath::device && !(*dev)->info().has_fp16) {
      std::printf("%s: no cl_khr_fp16: real half arithmetic not tested here\n", (*dev)->description().c_str());
      continue;
    }
    EXPECT_EQ((*dev)->half_math(), mode != ClHalfMath::off);
    double worst_vs_f32 = 0;  // max |got - ref| / f32 tolerance over the half-path cases
    double worst = 0;         // max |got - ref| / the tolerance used
    for (size_t ci = 0; ci < cases.size(); ++ci) {
      CaseData c, c32;
      c.rng.seed(seed() + 1000 + ci);
      c32.rng.seed(seed() + 1000 + ci);
      c.half_math = (*dev)->half_math();
      cases[ci].build(c);
      cases[ci].build(c32);
      const std::string what = (*dev)->description() + " " + cases[ci].name;
      RunResult r = run_case(**dev, c);
      ASSERT_TRUE(r.ran) << what << ": " << r.why;
      check_close(what, r.out, c.ref, c.tol);
      for (size_t i = 0; i < r.out.size(); ++i) worst = std::max(worst, std::abs(r.out[i] - c.ref[i]) / c.tol[i]);
      if (cases[ci].name.find("f32") != std::string::npos) continue;  // f32 weights: always f32
      for (size_t i = 0; i < r.out.size(); ++i) worst_vs_f32 = std::max(worst_vs_f32, std::abs(r.out[i] - c.ref[i]) / c32.tol[i]);
    }
    std::printf("%s: max |error| / bound %.3g; / f32 bound over f16/quantised matmuls %.3g\n",
                (*dev)->description().c_str(), worst, worst_vs_f32);
    if (mode == ClHalfMath::off) EXPECT_LE(worst_vs_f32, 1.0);
    else EXPECT_GT(worst_vs_f32, 1.0) << "half arithmetic requested but the results are as exact as f32";
  }
#else
  GTEST_SKIP() << "built without OpenCL: skipped";
#endif
}

}  // namespace
}  // namespace nm
