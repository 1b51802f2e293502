// The kernel bench list and its timing loop.
#include "backend/device_bench.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>

namespace nm {
namespace {

using Keep = std::vector<std::vector<unsigned char>>;

struct Bench {
  std::string name;
  std::function<NodeId(Graph&, Keep&)> build;
  double work;  // flops (is_flops) or bytes
  bool is_flops;
};

// A page-aligned weight of 0x11 bytes (valid blocks for every type benched).
NodeId weight(Graph& g, Keep& keep, DType t, std::array<int64_t, 4> ne) {
  keep.emplace_back(row_size(t, ne[0]) * (size_t)(ne[1] * ne[2] * ne[3]) + 4096, (unsigned char)0x11);
  auto& b = keep.back();
  unsigned char* p = reinterpret_cast<unsigned char*>(((uintptr_t)b.data() + 4095) / 4096 * 4096);
  return g.weight(Tensor::make(t, ne, p));
}

std::vector<Bench> all_benches() {
  constexpr int64_t E = 2048, F = 5632, T = 128;
  std::vector<Bench> benches;
  for (DType t : {DType::F32, DType::F16, DType::Q8_0, DType::Q4_0, DType::Q4_K}) {
    for (int64_t m : {int64_t{1}, T}) {
      benches.push_back({"matmul " + std::string(dtype_name(t)) + " " + std::to_string(F) + "x" + std::to_string(E) +
                             " M=" + std::to_string(m),
                         [t, m](Graph& g, Keep& keep) {
                           return g.matmul(weight(g, keep, t, {E, F, 1, 1}), g.input(DType::F32, {E, m, 1, 1}));
                         },
                         2.0 * (double)E * F * m, true});
    }
  }
  const double act = (double)E * T * 4;
  auto in = [=](Graph& g) { return g.input(DType::F32, {E, T, 1, 1}); };
  benches.push_back({"rms_norm", [=](Graph& g, Keep&) { return g.rms_norm(in(g), 1e-5f); }, 2 * act, false});
  benches.push_back({"add", [=](Graph& g, Keep&) { return g.add(in(g), in(g)); }, 3 * act, false});
  benches.push_back({"mul", [=](Graph& g, Keep&) { return g.mul(in(g), g.input(DType::F32, {E, 1, 1, 1})); }, 2 * act, false});
  benches.push_back({"scale", [=](Graph& g, Keep&) { return g.scale(in(g), 0.5f); }, 2 * act, false});
  benches.push_back({"silu", [=](Graph& g, Keep&) { return g.silu(in(g)); }, 2 * act, false});
  benches.push_back({"gelu", [=](Graph& g, Keep&) { return g.gelu(in(g)); }, 2 * act, false});
  benches.push_back({"gelu_quick", [=](Graph& g, Keep&) { return g.gelu_quick(in(g)); }, 2 * act, false});
  benches.push_back({"swiglu", [=](Graph& g, Keep&) { return g.swiglu(in(g), in(g)); }, 3 * act, false});
  benches.push_back({"softmax 512x512 (mask)", [](Graph& g, Keep&) {
                       return g.softmax(g.input(DType::F32, {512, 512, 1, 1}), 1.0f, g.input(DType::F32, {512, 512, 1, 1}));
                     }, 3.0 * 512 * 512 * 4, false});
  benches.push_back({"rope neox 64x32xT", [=](Graph& g, Keep&) {
                       RopeParams p;
                       p.mode = RopeMode::neox;
                       return g.rope(g.input(DType::F32, {64, 32, T, 1}), g.input(DType::I32, {T, 1, 1, 1}), p);
                     }, 2 * act, false});
  benches.push_back({"get_rows q4_0 T rows", [=](Graph& g, Keep& keep) {
                       return g.get_rows(weight(g, keep, DType::Q4_0, {E, 32000, 1, 1}), g.input(DType::I32, {T, 1, 1, 1}));
                     }, act + (double)row_size(DType::Q4_0, E) * T, false});
  benches.push_back({"cont f32->f16", [=](Graph& g, Keep&) { return g.cont(in(g), DType::F16); }, act * 1.5, false});
  for (int64_t t : {int64_t{1}, T}) {
    const int64_t n_kv = 1024, D = 64, H = 32, Hkv = 8;
    benches.push_back({"attention f16 kv=1024 T=" + std::to_string(t), [=](Graph& g, Keep&) {
                         return g.attention(g.input(DType::F32, {D, t, H, 1}), g.input(DType::F16, {D, n_kv, Hkv, 1}),
                                            g.input(DType::F16, {D, n_kv, Hkv, 1}), 0.125f);
                       }, 4.0 * D * n_kv * H * t, true});
  }
  return benches;
}

}  // namespace

Result<double> time_executable(Device& device, Executable& exe, int min_reps, double budget_s, int max_reps,
                               const std::function<double()>& clock) {
  auto now = [&clock] {
    return clock ? clock() : std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  };
  NM_RETURN_IF_ERROR(device.run(exe));  // warm-up: compiles, faults pages in
  const double start = now();
  double best = 1e30;
  for (int i = 0; i < std::max(max_reps, 1); ++i) {
    if (i >= std::max(min_reps, 1) && now() - start >= budget_s) break;
    const double t0 = now();
    NM_RETURN_IF_ERROR(device.run(exe));
    best = std::min(best, now() - t0);
  }
  return best;
}

std::string device_bench_label(const Device& device) {
  if (device.description().find("PoCL") != std::string::npos && device.kind() == DeviceKind::cpu) {
    return "PoCL (runs on the CPU)";
  }
  if (device.description().find("PoCL") != std::string::npos) return "PoCL";
  return device_kind_name(device.kind());
}

std::vector<KernelBenchResult> bench_device_kernels(Device& device, int reps, std::string_view only,
                                                    const std::function<void(const KernelBenchResult&)>& on_result) {
  std::vector<KernelBenchResult> out;
  for (Bench& b : all_benches()) {
    if (!only.empty() && b.name.find(only) == std::string::npos) continue;
    KernelBenchResult r;
    r.name = b.name;
    r.unit = b.is_flops ? "GFLOP/s" : "GB/s";
    Graph g;
    Keep keep;
    g.output(b.build(g, keep));
    auto exe = device.prepare(std::move(g));
    if (!exe.ok()) {
      r.status = exe.status();
    } else {
      for (const Node& n : (*exe)->graph().nodes()) {  // zeroed inputs (row ids 0) are valid
        if (n.op == OpKind::input) std::memset(n.t.data, 0, n.t.n_bytes());
      }
      Result<double> best = time_executable(device, **exe, reps, 0.0, reps);
      if (best.ok()) {
        r.ms = *best * 1e3;
        r.throughput = b.work / *best / 1e9;
      } else {
        r.status = best.status();
      }
    }
    if (on_result) on_result(r);
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace nm
