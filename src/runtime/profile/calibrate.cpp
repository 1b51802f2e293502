// Calibration measurements (see calibrate.h).
#include "runtime/profile/calibrate.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "backend/cpu/cpu_device.h"
#include "backend/cpu/packed_weights.h"
#include "backend/device_bench.h"
#include "core/thread_pool.h"
#include "kernels/roofline.h"
#include "runtime/energy/machine_energy.h"

namespace nm {
namespace {

constexpr int64_t kK = 2048, kN = 2048;  // matmul weight: kN rows of kK (a 0.5B model's width)
constexpr size_t kStreamMinBytes = size_t{64} << 20, kStreamMaxBytes = size_t{512} << 20;
constexpr int64_t kHeadDim = 64, kHeads = 32, kKvHeads = 8, kKv = 256, kAttnPrefill = 32;
// Attention as the vision brick runs it (matmul form): kMatmulHeads heads over T patches,
// at a small encoder's T and at a SigLIP-sized one (24 x 24 patches).
constexpr int64_t kMatmulHeads = 4;
constexpr int64_t kMatmulAttnTokens[] = {64, 576};
constexpr size_t kMapBytes = size_t{16} << 20;
// The per-op chain's matmuls: 64x64 f32 weights times 9 rows (74 KFLOP each), the shape of
// a small encoder's patches: enough rows for the tiled path, which shares the work with the
// workers (one row runs as a matrix-vector product the calling thread may finish alone).
constexpr int64_t kOpWidth = 64, kOpRows = 9;
constexpr int kOpChain = 64;
constexpr int kLaunchRuns = 25;  // launch: runs after a pause each (25 x ~2 ms)

std::string fmt(const char* f, double a) {
  char b[64];
  std::snprintf(b, sizeof b, f, a);
  return b;
}

// A weight matrix in a temporary file mapped read-only, as a model file's weights are:
// the CPU packs it through PackedWeights exactly as it packs a brick's (pread from the
// file), other devices import the mapping. Bytes 0x11 are valid blocks of every type.
class TempWeights {
 public:
  static Result<std::unique_ptr<TempWeights>> make(size_t bytes) {
    const char* dir = std::getenv("TMPDIR");
    std::string path = std::string(dir && *dir ? dir : "/tmp") + "/nanomind-calibrate-XXXXXX";
    std::vector<char> name(path.begin(), path.end());
    name.push_back('\0');
    const int fd = ::mkstemp(name.data());
    if (fd < 0) return error(ErrorCode::io_error, path + ": cannot create a temporary weight file");
    auto w = std::unique_ptr<TempWeights>(new TempWeights(name.data(), bytes));
    std::vector<unsigned char> chunk(size_t{1} << 20, 0x11);
    size_t done = 0;
    while (done < bytes) {
      const size_t n = std::min(chunk.size(), bytes - done);
      const ssize_t k = ::write(fd, chunk.data(), n);
      if (k <= 0) {
        ::close(fd);
        return error(ErrorCode::io_error, w->path_ + ": cannot write the temporary weight file");
      }
      done += static_cast<size_t>(k);
    }
    void* p = ::mmap(nullptr, bytes, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) return error(ErrorCode::io_error, w->path_ + ": cannot map the temporary weight file");
    w->map_ = p;
    return w;
  }
  ~TempWeights() {
    packed_.reset();
    if (map_) ::munmap(map_, bytes_);
    ::unlink(path_.c_str());
  }
  void* data() const { return map_; }
  PackedWeights* packed() {
    if (!packed_) packed_ = std::make_unique<PackedWeights>(path_, map_, bytes_);
    return packed_.get();
  }

 private:
  TempWeights(std::string path, size_t bytes) : path_(std::move(path)), bytes_(bytes) {}
  std::string path_;
  size_t bytes_;
  void* map_ = nullptr;
  std::unique_ptr<PackedWeights> packed_;
};

class Calibrator {
 public:
  explicit Calibrator(const CalibrationOptions& o) : o_(o), start_(now()) {}

  // False (with one line for `what`) once the whole calibration's deadline has passed.
  bool in_time(const std::string& what) {
    if (now() - start_ <= o_.max_total_s) return true;
    say(what + ": not measured (past the " + fmt("%.0f s", o_.max_total_s) + " calibration budget)");
    ++skipped_;
    return false;
  }
  int skipped() const { return skipped_; }

  double now() const {
    return o_.clock ? o_.clock()
                    : std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }
  void say(const std::string& line) const {
    if (o_.progress) o_.progress(line);
  }

  // Prepares `g` on `dev` (packed on a CPU cluster), zeroes its inputs and times it.
  Result<double> time_graph(Device& dev, Graph g, TempWeights* weights, int min_reps, double budget) const {
    std::unique_ptr<Executable> exe;
    if (auto* cpu = dynamic_cast<CpuDevice*>(&dev); cpu && weights) {
      NM_ASSIGN_OR_RETURN(exe, cpu->prepare(std::move(g), weights->packed()));
    } else {
      NM_ASSIGN_OR_RETURN(exe, dev.prepare(std::move(g)));
    }
    for (const Node& n : exe->graph().nodes())
      if (n.op == OpKind::input) std::memset(n.t.data, 0, n.t.n_bytes());
    return time_executable(dev, *exe, min_reps, budget, 1 << 20, o_.clock);
  }

  ProfileFigure measured(double v, const std::string& note = {}) const {
    ProfileFigure f;
    f.value = v;
    f.source = "measured";
    f.note = note;
    return f;
  }

  // Bytes of the decode-shape weight that streams from DRAM: four times the last-level cache
  // this CPU reports, at least 64 MiB (a weight that stays in the caches measures arithmetic,
  // not the streaming a model's decode step does).
  static size_t stream_bytes() {
    long llc = 0;
#if defined(_SC_LEVEL3_CACHE_SIZE)
    llc = std::max(::sysconf(_SC_LEVEL3_CACHE_SIZE), ::sysconf(_SC_LEVEL2_CACHE_SIZE));
#endif
    return std::clamp(llc > 0 ? 4 * static_cast<size_t>(llc) : 0, kStreamMinBytes, kStreamMaxBytes);
  }

  // The rate at which decode-shape (one token) matmuls of type t read weights from DRAM, as
  // a model's decode step does: a chain of kN x kK weights, each used once, together larger
  // than the caches. GB of weights per second, or an error when the device cannot run them.
  Result<double> stream_gbps(Device& dev, DType t) const {
    const size_t one = row_size(t, kK) * static_cast<size_t>(kN);
    const int64_t n = static_cast<int64_t>((stream_bytes() + one - 1) / one);
    NM_ASSIGN_OR_RETURN(std::unique_ptr<TempWeights> w, TempWeights::make(one * static_cast<size_t>(n)));
    Graph g;
    NodeId x = g.input(DType::F32, {kK, 1, 1, 1});
    for (int64_t i = 0; i < n; ++i) {
      x = g.matmul(g.weight(Tensor::make(t, {kK, kN, 1, 1}, static_cast<char*>(w->data()) + i * one)), x);
    }
    g.output(x);
    NM_ASSIGN_OR_RETURN(double s, time_graph(dev, std::move(g), w.get(), 3, o_.budget_s));
    return static_cast<double>(one) * n / s / 1e9;
  }

  Status matmuls(Device& dev, ProfileDevice* out) {
    for (DType t : o_.weight_types) {
      const size_t bytes = row_size(t, kK) * static_cast<size_t>(kN);
      std::unique_ptr<TempWeights> w;
      for (int tokens : {1, o_.prefill_tokens}) {
        const std::string what = dev.name() + ": matmul " + std::string(dtype_name(t)) + " " + std::to_string(kN) +
                                 "x" + std::to_string(kK) + " x " + std::to_string(tokens) + " tokens";
        if (!in_time(what)) continue;
        if (!w) {
          NM_ASSIGN_OR_RETURN(w, TempWeights::make(bytes));
        }
        Graph g;
        const NodeId wn = g.weight(Tensor::make(t, {kK, kN, 1, 1}, w->data()));
        g.output(g.matmul(wn, g.input(DType::F32, {kK, tokens, 1, 1})));
        Result<double> s = time_graph(dev, std::move(g), w.get(), 1, o_.budget_s);
        if (!s.ok()) {
          say(what + ": not measured (" + (s.status().code() == ErrorCode::unsupported ? std::string("not supported here")
                                                                                       : s.status().message()) + ")");
          continue;
        }
        const double gflops = 2.0 * kK * kN * tokens / *s / 1e9;
        ProfileMatmul m{std::string(dtype_name(t)), tokens, measured(gflops), {}};
        std::string streamed;
        if (tokens == 1) {
          Result<double> gbps = stream_gbps(dev, t);
          if (gbps.ok()) {
            m.read_gbps = measured(*gbps, "one token through a chain of 2048x2048 weights, " +
                                              fmt("%.0f MiB", stream_bytes() / 1048576.0) +
                                              " in all (larger than the caches)");
            streamed = fmt(", %.1f GB/s of weights from DRAM", *gbps);
          } else {
            streamed = ", weights from DRAM: not measured (" + gbps.status().message() + ")";
          }
        }
        say(what + ": " + fmt("%.1f GFLOP/s", gflops) + streamed);
        out->matmul.push_back(std::move(m));
        ++ran_;
      }
    }
    return Status::ok_status();
  }

  void attention(Device& dev, ProfileDevice* out) {
    for (int64_t tokens : {int64_t{1}, kAttnPrefill}) {
      const std::string what = dev.name() + ": attention " + std::to_string(tokens) + " x " + std::to_string(kKv) + " kv";
      if (!in_time(what)) continue;
      // As the text brick lays them out: rows of heads ([tokens][heads][dim]), viewed
      // heads-major for the op.
      Graph g;
      auto heads_major = [&g](DType t, int64_t heads, int64_t rows) {
        return g.permute(g.input(t, {kHeadDim, heads, rows, 1}), {0, 2, 1, 3});
      };
      g.output(g.attention(heads_major(DType::F32, kHeads, tokens), heads_major(DType::F16, kKvHeads, kKv),
                           heads_major(DType::F16, kKvHeads, kKv), 0.125f));
      time_attention(dev, std::move(g), what, 4.0 * kHeadDim * kKv * kHeads * tokens, {static_cast<int>(tokens),
                     static_cast<int>(kKv), false, {}}, out);
    }
  }

  // Times an attention graph of `flops` and adds its entry (`entry`'s shape and form) to `out`.
  void time_attention(Device& dev, Graph g, const std::string& what, double flops, ProfileAttention entry,
                      ProfileDevice* out, const std::string& note = {}) {
    Result<double> s = time_graph(dev, std::move(g), nullptr, 1, o_.budget_s);
    if (!s.ok()) return say(what + ": not measured (" + s.status().message() + ")");
    const double gflops = flops / *s / 1e9;
    say(what + ": " + fmt("%.2f GFLOP/s", gflops));
    entry.gflops = measured(gflops, note);
    out->attention.push_back(std::move(entry));
    ++ran_;
  }

  // Attention as the vision brick's graph runs it (vision_graph.cpp): per head, the scores
  // as a matmul of K and Q, a softmax, the output as a matmul of Vᵀ and the probabilities,
  // the heads joined by pairwise concats. Non-causal: every patch attends to every patch.
  void attention_matmuls(Device& dev, ProfileDevice* out) {
    for (int64_t t : kMatmulAttnTokens) {
      const std::string what = dev.name() + ": attention as matmuls, " + std::to_string(t) + " x " + std::to_string(t);
      if (!in_time(what)) continue;
      Graph g;
      const NodeId q = g.input(DType::F32, {kHeadDim, t, kMatmulHeads, 1});
      const NodeId k = g.input(DType::F32, {kHeadDim, t, kMatmulHeads, 1});
      const NodeId v_t = g.input(DType::F32, {t, kHeadDim, kMatmulHeads, 1});
      std::vector<NodeId> outs;
      for (int64_t ih = 0; ih < kMatmulHeads; ++ih) {
        auto head = [&](NodeId x, int64_t ne0, int64_t ne1) {
          const Tensor& xt = g.node(x).t;
          const size_t plane = xt.nb[1] * static_cast<size_t>(ne1);
          return g.view(x, {ne0, ne1, 1, 1}, {xt.nb[0], xt.nb[1], plane, plane}, static_cast<size_t>(ih) * xt.nb[2]);
        };
        const NodeId probs = g.softmax(g.matmul(head(k, kHeadDim, t), head(q, kHeadDim, t)), 0.125f);
        outs.push_back(g.matmul(head(v_t, t, kHeadDim), probs));
      }
      while (outs.size() > 1) {
        std::vector<NodeId> next;
        for (size_t i = 0; i + 1 < outs.size(); i += 2) next.push_back(g.concat(outs[i], outs[i + 1], 2));
        if (outs.size() % 2) next.push_back(outs.back());
        outs = std::move(next);
      }
      g.output(outs[0]);
      time_attention(dev, std::move(g), what, 4.0 * kHeadDim * t * t * kMatmulHeads,
                     {static_cast<int>(t), static_cast<int>(t), true, {}}, out,
                     "two f32 matmuls and a softmax per head, 4 heads of 64, the heads joined by concats");
    }
  }

  // Element-wise ops as a transformer layer runs them, on a [1024 x 576] activation (about a
  // SigLIP encoder's, larger than a core's L2): a layer norm, a bias add, a GELU, a residual
  // add and a transposing copy; GB/s of the values they read and write (11 floats each).
  void elementwise(Device& dev, ProfileDevice* out) {
    if (!in_time(dev.name() + ": element-wise ops")) return;
    constexpr int64_t kW = 1024, kRows = 576;
    Graph g;
    const NodeId x = g.input(DType::F32, {kW, kRows, 1, 1});
    const NodeId w = g.input(DType::F32, {kW, 1, 1, 1}), b = g.input(DType::F32, {kW, 1, 1, 1});
    const NodeId h = g.gelu(g.add(g.layer_norm(x, 1e-6f, w, b), b));
    g.output(g.cont(g.permute(g.add(x, h), {1, 0, 2, 3})));
    Result<double> s = time_graph(dev, std::move(g), nullptr, 1, o_.budget_s);
    if (!s.ok()) return say(dev.name() + ": element-wise ops: not measured (" + s.status().message() + ")");
    const double gbps = 11.0 * 4 * kW * kRows / *s / 1e9;
    say(dev.name() + ": element-wise ops: " + fmt("%.1f GB/s", gbps));
    out->elementwise_gbps = measured(gbps, "layer norm, bias add, GELU, residual add and transposing copy of a "
                                           "1024x576 f32 activation, values read + written");
    ++ran_;
  }

  // One graph run's fixed cost as a brick's run pays it: a graph of one op the device's
  // workers share (an add of 16384 floats, too large to run inline), each run after a
  // pause long enough for idle CPU workers to sleep (as between two camera frames), so the
  // run wakes them. The median of the runs (a wake-up's cost varies with the scheduler).
  void launch(Device& dev, ProfileDevice* out) {
    if (!in_time(dev.name() + ": launch")) return;
    Graph g;
    g.output(g.add(g.input(DType::F32, {16384, 1, 1, 1}), g.input(DType::F32, {16384, 1, 1, 1})));
    Result<std::unique_ptr<Executable>> exe = dev.prepare(std::move(g));
    if (!exe.ok()) return say(dev.name() + ": launch: not measured (" + exe.status().message() + ")");
    for (const Node& n : (*exe)->graph().nodes())
      if (n.op == OpKind::input) std::memset(n.t.data, 0, n.t.n_bytes());
    std::vector<double> runs;
    Status st = dev.run(**exe);  // warm-up
    for (int i = 0; st.ok() && i < kLaunchRuns; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      const double t0 = now();
      st = dev.run(**exe);
      runs.push_back(now() - t0);
    }
    if (!st.ok()) return say(dev.name() + ": launch: not measured (" + st.message() + ")");
    std::nth_element(runs.begin(), runs.begin() + runs.size() / 2, runs.end());
    const double median = runs[runs.size() / 2];
    say(dev.name() + ": one graph run (launch overhead, idle workers woken): " + fmt("%.1f us", median * 1e6));
    out->launch_us = measured(median * 1e6, "median of " + std::to_string(kLaunchRuns) + " runs of a one-op graph "
                                            "(an add of 16384 floats), each after a 2 ms pause");
    ++ran_;
  }

  // The fixed cost of each op the device's workers run (on a CPU cluster the pool is woken
  // and joined for every matmul, attention and large element-wise op; a GPU enqueues a
  // kernel): a chain of kOpChain tiny matmuls (each with a small add after it) timed
  // against a chain of one, the difference per op. A brick's graph runs tens to hundreds
  // of such ops per run: on a small model they, not the arithmetic, are most of its time
  // (issue 15 item 7).
  void ops(Device& dev, ProfileDevice* out) {
    if (!in_time(dev.name() + ": per-op cost")) return;
    auto chain = [&](int n) {
      Graph g;
      const NodeId w = g.weight(Tensor::make(DType::F32, {kOpWidth, kOpWidth, 1, 1}, op_weights_.data()));
      NodeId x = g.input(DType::F32, {kOpWidth, kOpRows, 1, 1});
      // A decode step alternates pooled ops with small ones the calling thread runs alone
      // (norms, rope, adds): each matmul is followed by one such add, so the workers wait
      // between ops as they do in a brick's graph.
      for (int i = 0; i < n; ++i) x = g.add(g.matmul(w, x), x);
      g.output(x);
      return time_graph(dev, std::move(g), nullptr, 20, std::min(o_.budget_s, 0.05));
    };
    Result<double> one = chain(1);
    Result<double> many = one.ok() ? chain(kOpChain) : one;
    if (!many.ok()) return say(dev.name() + ": per-op cost: not measured (" + many.status().message() + ")");
    const double us = std::max(0.0, (*many - *one) / (kOpChain - 1) * 1e6);
    say(dev.name() + ": one op of a graph run: " + fmt("%.2f us", us));
    out->op_us = measured(us, "time per op of a chain of " + std::to_string(kOpChain) + " 64x64 f32 matmuls of 9 rows, "
                              "each followed by a small add, less a chain of one (best runs)");
    ++ran_;
  }

  void map(Device& dev, ProfileDevice* out) {
    if (!in_time(dev.name() + ": map")) return;
    void* p = nullptr;
    if (::posix_memalign(&p, 4096, kMapBytes) != 0) return say(dev.name() + ": map: no memory");
    std::unique_ptr<void, decltype(&std::free)> keep(p, &std::free);
    std::memset(p, 0, kMapBytes);
    double best = 1e30;
    bool zero_copy = false;
    for (int i = 0; i < 3; ++i) {
      const double t0 = now();
      Result<std::unique_ptr<DeviceBuffer>> b = dev.import_host(p, kMapBytes);
      if (!b.ok()) return say(dev.name() + ": map: not measured (" + b.status().message() + ")");
      zero_copy = (*b)->zero_copy();
      b->reset();
      best = std::min(best, now() - t0);
    }
    say(dev.name() + ": map 16 MiB of host memory: " + fmt("%.1f us", best * 1e6) + (zero_copy ? " (zero-copy)" : " (copied)"));
    out->map_us = measured(best * 1e6, zero_copy ? "import of 16 MiB of host memory, zero-copy"
                                                  : "import of 16 MiB of host memory, copied");
  }

  void speed(Device& dev, ProfileDevice* out) {
    if (!in_time(dev.name() + ": bandwidth and FMA")) return;
    // A CPU cluster: the limits its kernels reach (the widest vectors this CPU has), as
    // `nanomind bench` measures its roofline; Device::measure_speed's portable loops read
    // a fraction of that.
    if (auto* cpu = dynamic_cast<CpuDevice*>(&dev)) {
      Result<std::unique_ptr<ThreadPool>> pool = ThreadPool::create(cpu->n_threads(), cpu->cluster().physical);
      if (pool.ok()) {
        const double bw = measure_read_bandwidth(**pool, o_.read_bytes);
        const double fma = measure_fma_peak(**pool, best_isa());
        if (bw > 0 && fma > 0) {
          say(dev.name() + ": read " + fmt("%.1f GB/s", bw / 1e9) + ", f32 FMA " + fmt("%.1f GFLOP/s", fma / 1e9) +
              " (" + isa_name(best_isa()) + ")");
          out->read_gbps = measured(bw / 1e9, "streaming read of " + std::to_string(o_.read_bytes >> 20) +
                                                  " MiB, every thread of the cluster");
          out->f32_gflops = measured(fma / 1e9, std::string("register-resident f32 FMAs with ") + isa_name(best_isa()));
          ++ran_;
          return;
        }
      }
    }
    Result<DeviceSpeed> s = dev.measure_speed();
    if (!s.ok()) return say(dev.name() + ": bandwidth and FMA: not measured (" + s.status().message() + ")");
    say(dev.name() + ": read " + fmt("%.1f GB/s", s->read_gb_per_s) + ", f32 FMA " + fmt("%.1f GFLOP/s", s->gflop_per_s));
    out->read_gbps = measured(s->read_gb_per_s, "streaming read of 128 MiB, all threads");
    out->f32_gflops = measured(s->gflop_per_s, "register-resident f32 multiply-adds, all threads");
    ++ran_;
  }

  // Watts over `seconds` of `work` (idle when null), from a real sensor.
  Result<double> watts(double seconds, const std::function<Status()>& work) const {
    energy::EnergySpan span = o_.monitor->begin();
    const double t0 = now();
    while (now() - t0 < seconds) {
      if (work) {
        NM_RETURN_IF_ERROR(work());
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
    NM_ASSIGN_OR_RETURN(energy::EnergyReading r, span.finish());
    if (!r.measured) return error(ErrorCode::unsupported, "the reading was not measured");
    return r.watts();
  }

  int ran() const { return ran_; }
  void reset_ran() { ran_ = 0; }

 private:
  const CalibrationOptions& o_;
  std::vector<float> op_weights_ = std::vector<float>(kOpWidth * kOpWidth, 0.01f);
  double start_;
  int ran_ = 0, skipped_ = 0;
};

// The power figures no sensor measured, copied from `fallback` and marked as estimates.
void stand_in_power(const DeviceProfile& fallback, DeviceProfile* p) {
  auto copy_source = [&](const std::string& id) {
    const ProfileSource* s = fallback.source(id);
    if (s && !p->source(id)) p->sources.push_back(*s);
  };
  auto stand_in = [&](const ProfileFigure& f, double value, const std::string& how) {
    ProfileFigure g = f;
    g.value = value;
    g.estimate = true;
    g.note = "not measured (no power sensor): " + how + (f.note.empty() ? "" : "; there: " + f.note);
    copy_source(f.source);
    return g;
  };
  if (!p->idle_w.known() && fallback.idle_w.known())
    p->idle_w = stand_in(fallback.idle_w, fallback.idle_w.value, "profile " + fallback.name + "'s board idle power");
  for (ProfileDevice& d : p->devices) {
    if (d.active_w.known()) continue;
    const ProfileDevice* f = fallback.device(d.name);
    if (!f) {
      for (const ProfileDevice& c : fallback.devices)
        if (c.kind == d.kind) {
          f = &c;
          break;
        }
    }
    if (!f || !f->active_w.known()) continue;
    if (f->cores > 0 && d.cores > 0) {
      const double per_core = f->active_w.value / f->cores;
      d.active_w = stand_in(f->active_w, per_core * d.cores,
                            "profile " + fallback.name + "'s " + fmt("%.3g W", per_core) + " per busy core x " +
                                std::to_string(d.cores) + " cores");
    } else {
      d.active_w = stand_in(f->active_w, f->active_w.value, "profile " + fallback.name + "'s " + f->name);
    }
  }
}

}  // namespace

std::vector<DType> default_calibration_types() {
  // The most used first (a deadline cuts the tail): Q4_0/Q8_0 text and mmproj weights,
  // the K-quants of Q4_K_M files, then float and the rest.
  return {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q6_K, DType::F16, DType::F32,
          DType::Q5_K, DType::Q5_0, DType::Q4_1, DType::Q5_1, DType::IQ4_NL};
}

Result<DeviceProfile> calibrate_devices(const std::vector<Device*>& devices, const CalibrationOptions& options_in) {
  CalibrationOptions o = options_in;
  if (o.weight_types.empty()) o.weight_types = default_calibration_types();
  if (o.prefill_tokens < 2 || o.prefill_tokens > 4096)
    return error(ErrorCode::invalid_argument, "calibration: prefill_tokens must be 2 to 4096");
  if (devices.empty()) return error(ErrorCode::invalid_argument, "calibration: no device to measure");
  // The stand-in power profile is read before anything is measured, so that a bad name or
  // file (or a FIFO nobody writes) is refused at once, not after minutes of measuring.
  const std::string fallback_name = o.power_profile.empty() ? energy::estimate_profile_for_machine() : o.power_profile;
  std::optional<DeviceProfile> fallback;
  if (fallback_name != "none" && !fallback_name.empty()) {
    Result<DeviceProfile> fb = load_device_profile(fallback_name);
    if (!fb.ok()) return fb.status();
    fallback = std::move(*fb);
  }
  Calibrator c(o);
  const double t_start = c.now();

  DeviceProfile p;
  p.name = o.name;
  p.origin = "calibrated";
  p.title = "This machine, as nanomind calibrate measured it";
  p.calibration.machine = o.machine.empty() ? "unknown machine" : o.machine;
  p.calibration.build = o.build.empty() ? "unknown build" : o.build;
  p.calibration.created = o.created > 0 ? o.created : 1;
  p.notes.push_back("matmul figures: weights of 2048x2048 (cache-resident), decode = 1 token, prefill = " +
                    std::to_string(o.prefill_tokens) + " tokens; a decode entry's read_gbps is the rate its weights "
                    "stream from DRAM (one token against a weight larger than the caches); the cost model bounds "
                    "each brick by the lower of that rate and the read bandwidth");

  const bool sensor = o.monitor && o.monitor->measuring();
  double idle_w = NAN;
  if (sensor) {
    Result<double> w = c.watts(1.0, nullptr);
    if (w.ok()) {
      idle_w = *w;
      c.say("board idle: " + fmt("%.2f W", idle_w) + " (" + o.monitor->primary().description + ")");
      p.idle_w = c.measured(idle_w, "1 s idle, " + o.monitor->primary().description);
    } else {
      c.say("board idle power: not measured (" + w.status().message() + ")");
    }
  }

  for (Device* dev : devices) {
    ProfileDevice d;
    d.name = dev->name();
    d.kind = device_kind_name(dev->kind());
    d.api = dynamic_cast<CpuDevice*>(dev) ? "cpu" : "opencl";
    d.core = dev->description().substr(0, 200);
    if (auto* cpu = dynamic_cast<CpuDevice*>(dev)) d.cores = cpu->n_threads();
    else if (d.kind == "cpu") d.cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    c.say("measuring " + d.name + " (" + dev->description() + ")");
    c.reset_ran();
    c.speed(*dev, &d);
    c.launch(*dev, &d);
    c.ops(*dev, &d);
    c.map(*dev, &d);
    NM_RETURN_IF_ERROR(c.matmuls(*dev, &d));
    c.attention(*dev, &d);
    c.attention_matmuls(*dev, &d);
    c.elementwise(*dev, &d);
    if (c.ran() == 0 && c.skipped() == 0) return error(ErrorCode::unsupported, "calibration: no measurement ran on " + d.name);
    if (sensor && std::isfinite(idle_w)) {
      // Busy power: the device runs q4_0 prefill products (or whatever type it runs) for 1 s.
      Result<double> w = error(ErrorCode::unsupported, "no matmul ran");
      for (const ProfileMatmul& m : d.matmul) {
        if (m.tokens == 1) continue;
        const DType t = [&] {
          for (DType x : o.weight_types)
            if (dtype_name(x) == m.weight) return x;
          return DType::F32;
        }();
        auto tw = TempWeights::make(row_size(t, kK) * static_cast<size_t>(kN));
        if (!tw.ok()) break;
        Graph g;
        g.output(g.matmul(g.weight(Tensor::make(t, {kK, kN, 1, 1}, (*tw)->data())),
                          g.input(DType::F32, {kK, o.prefill_tokens, 1, 1})));
        auto cpu = dynamic_cast<CpuDevice*>(dev);
        auto exe = cpu ? cpu->prepare(std::move(g), (*tw)->packed()) : dev->prepare(std::move(g));
        if (!exe.ok()) break;
        for (const Node& n : (*exe)->graph().nodes())
          if (n.op == OpKind::input) std::memset(n.t.data, 0, n.t.n_bytes());
        w = c.watts(1.0, [&] { return dev->run(**exe); });
        break;
      }
      if (w.ok()) {
        d.active_w = c.measured(std::max(0.0, *w - idle_w), "1 s of matmuls on every thread, minus board idle");
        c.say(d.name + ": busy " + fmt("%.2f W", *w) + " = idle + " + fmt("%.2f W", d.active_w.value));
      } else {
        c.say(d.name + ": busy power: not measured (" + w.status().message() + ")");
      }
    }
    if (!d.f32_gflops.known()) {  // the schema needs a device's peak rate
      c.say(d.name + ": left out of the profile (its FMA rate was not measured)");
      continue;
    }
    p.devices.push_back(std::move(d));
  }
  if (p.devices.empty()) return error(ErrorCode::unsupported, "calibration: no device could be measured in time");

  // Board: the first CPU cluster's bandwidth; power from the stand-in profile where no
  // sensor measured it.
  for (const ProfileDevice& d : p.devices)  // a CPU cluster's, else the first measured
    if (d.read_gbps.known() && (d.kind == "cpu" || !p.read_gbps.known())) {
      p.read_gbps = d.read_gbps;
      if (d.kind == "cpu") break;
    }
  if (!p.read_gbps.known()) return error(ErrorCode::unsupported, "calibration: no device measured a read bandwidth");
  if (fallback) {
    stand_in_power(*fallback, &p);
    c.say(std::string(sensor ? "power figures not measured" : "no power sensor") + ": power figures from profile " +
          fallback->name + ", marked as estimates");
  } else if (!sensor) {
    c.say("no power sensor and no stand-in profile: the profile has no power figures");
  }
  p.calibration.seconds = c.now() - t_start;
  return p;
}

}  // namespace nm
