// bench_opencl: throughput of each OpenCL kernel through the Device interface (one-op
// graphs, decode- and prefill-sized). Reports GFLOP/s for matmul/attention and GB/s
// (bytes read + written) for the rest. On PoCL the "GPU" is the CPU: numbers are
// labelled so. Usage: bench_opencl [--device NAME] [--reps N] [--only SUBSTRING]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "backend/device_registry.h"

namespace {

using nm::DType;
using nm::Graph;
using nm::NodeId;

struct Bench {
  std::string name;
  std::function<NodeId(Graph&, std::vector<std::vector<unsigned char>>&)> build;
  double work;  // flops (is_flops) or bytes
  bool is_flops;
};

NodeId weight(Graph& g, std::vector<std::vector<unsigned char>>& keep, DType t, std::array<int64_t, 4> ne) {
  keep.emplace_back(nm::row_size(t, ne[0]) * (size_t)(ne[1] * ne[2] * ne[3]) + 4096, (unsigned char)0x11);
  auto& b = keep.back();
  unsigned char* p = reinterpret_cast<unsigned char*>(((uintptr_t)b.data() + 4095) / 4096 * 4096);
  return g.weight(nm::Tensor::make(t, ne, p));
}

}  // namespace

int main(int argc, char** argv) {
  std::string device = "opencl";
  int reps = 5;
  std::string only;  // run only benches whose name contains this
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--device")) device = argv[i + 1];
    if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--only")) only = argv[i + 1];
  }
  nm::DeviceRegistry reg = nm::DeviceRegistry::create();
  nm::Device* dev = reg.find(device);
  if (!dev) {
    std::printf("bench_opencl: no device '%s' on this machine\n", device.c_str());
    return 0;
  }
  const bool pocl = dev->description().find("PoCL") != std::string::npos;
  std::printf("device %s: %s%s\n", dev->name().c_str(), dev->description().c_str(),
              pocl ? "\n*** PoCL runs OpenCL on the CPU: these are CPU numbers, not GPU numbers ***" : "");
  const int64_t E = 2048, F = 5632, T = 128;
  std::vector<Bench> benches;
  for (DType t : {DType::F32, DType::F16, DType::Q8_0, DType::Q4_0, DType::Q4_K}) {
    for (int64_t m : {int64_t{1}, T}) {
      benches.push_back({"matmul " + std::string(nm::dtype_name(t)) + " " + std::to_string(F) + "x" + std::to_string(E) + " M=" + std::to_string(m),
                         [t, m, E, F](Graph& g, auto& keep) { return g.matmul(weight(g, keep, t, {E, F, 1, 1}), g.input(DType::F32, {E, m, 1, 1})); },
                         2.0 * (double)E * F * m, true});
    }
  }
  const double act = (double)E * T * 4;
  benches.push_back({"rms_norm", [&](Graph& g, auto&) { return g.rms_norm(g.input(DType::F32, {E, T, 1, 1}), 1e-5f); }, 2 * act, false});
  benches.push_back({"add", [&](Graph& g, auto&) { return g.add(g.input(DType::F32, {E, T, 1, 1}), g.input(DType::F32, {E, T, 1, 1})); }, 3 * act, false});
  benches.push_back({"mul", [&](Graph& g, auto&) { return g.mul(g.input(DType::F32, {E, T, 1, 1}), g.input(DType::F32, {E, 1, 1, 1})); }, 2 * act, false});
  benches.push_back({"scale", [&](Graph& g, auto&) { return g.scale(g.input(DType::F32, {E, T, 1, 1}), 0.5f); }, 2 * act, false});
  benches.push_back({"silu", [&](Graph& g, auto&) { return g.silu(g.input(DType::F32, {E, T, 1, 1})); }, 2 * act, false});
  benches.push_back({"gelu", [&](Graph& g, auto&) { return g.gelu(g.input(DType::F32, {E, T, 1, 1})); }, 2 * act, false});
  benches.push_back({"gelu_quick", [&](Graph& g, auto&) { return g.gelu_quick(g.input(DType::F32, {E, T, 1, 1})); }, 2 * act, false});
  benches.push_back({"swiglu", [&](Graph& g, auto&) { return g.swiglu(g.input(DType::F32, {E, T, 1, 1}), g.input(DType::F32, {E, T, 1, 1})); }, 3 * act, false});
  benches.push_back({"softmax 512x512 (mask)", [&](Graph& g, auto&) { return g.softmax(g.input(DType::F32, {512, 512, 1, 1}), 1.0f, g.input(DType::F32, {512, 512, 1, 1})); }, 3.0 * 512 * 512 * 4, false});
  benches.push_back({"rope neox 64x32xT", [&](Graph& g, auto&) {
    nm::RopeParams p; p.mode = nm::RopeMode::neox;
    return g.rope(g.input(DType::F32, {64, 32, T, 1}), g.input(DType::I32, {T, 1, 1, 1}), p); }, 2 * act, false});
  benches.push_back({"get_rows q4_0 T rows", [&](Graph& g, auto& keep) { return g.get_rows(weight(g, keep, DType::Q4_0, {E, 32000, 1, 1}), g.input(DType::I32, {T, 1, 1, 1})); },
                     act + (double)nm::row_size(DType::Q4_0, E) * T, false});
  benches.push_back({"cont f32->f16", [&](Graph& g, auto&) { return g.cont(g.input(DType::F32, {E, T, 1, 1}), DType::F16); }, act * 1.5, false});
  for (int64_t t : {int64_t{1}, T}) {
    const int64_t n_kv = 1024, D = 64, H = 32, Hkv = 8;
    benches.push_back({"attention f16 kv=1024 T=" + std::to_string(t), [=](Graph& g, auto&) {
      return g.attention(g.input(DType::F32, {D, t, H, 1}), g.input(DType::F16, {D, n_kv, Hkv, 1}),
                         g.input(DType::F16, {D, n_kv, Hkv, 1}), 0.125f); }, 4.0 * D * n_kv * H * t, true});
  }
  std::printf("%-36s %10s %12s\n", "kernel", "ms/run", "throughput");
  for (Bench& b : benches) {
    if (!only.empty() && b.name.find(only) == std::string::npos) continue;
    Graph g;
    std::vector<std::vector<unsigned char>> keep;
    g.output(b.build(g, keep));
    auto exe = dev->prepare(std::move(g));
    if (!exe.ok()) {
      std::printf("%-36s %s\n", b.name.c_str(), exe.status().to_string().c_str());
      continue;
    }
    for (const nm::Node& n : (*exe)->graph().nodes()) {  // zeroed inputs (ids 0) are valid
      if (n.op == nm::OpKind::input) std::memset(n.t.data, 0, n.t.n_bytes());
    }
    nm::Status st = dev->run(**exe);  // warm-up (compiles, faults pages in)
    double best = 1e30;
    for (int r = 0; r < reps && st.ok(); ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      st = dev->run(**exe);
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    if (!st.ok()) {
      std::printf("%-36s %s\n", b.name.c_str(), st.to_string().c_str());
      continue;
    }
    std::printf("%-36s %10.3f %9.1f %s\n", b.name.c_str(), best * 1e3, b.work / best / 1e9, b.is_flops ? "GFLOP/s" : "GB/s");
  }
  return 0;
}
