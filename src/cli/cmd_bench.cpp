// `nanomind bench`: llama-bench-style throughput of the text brick. pp<N>: batched
// prefill of N tokens; tg<N>: N single-token decode steps from an empty context. Each
// test runs --repetitions times after one warm-up; mean ± stddev in tokens/s. Also time
// to first token (prefill of the pp prompt + first sample), peak resident memory, and
// decode as a fraction of the bandwidth roofline (weight bytes per token / measured
// read bandwidth). With --device, first each named device's per-kernel throughput. With
// an mmproj (the demo's when no -m is given) also the vision brick: one image of the
// encoder's size through nm_session_encode_image (preprocessing, encoder, projector).
//
// The read bandwidth is measured before each tg run and after the last, and each run is
// held against the mean of the two measurements around it: on a shared machine the
// bandwidth moves by tens of percent within seconds (one measurement at the end made the
// same decode speed read anywhere from 55% to 85% of "the" roofline on the 2-core VM).
//
// Energy: each run is also a span on the machine's energy monitor (J/token and mean W
// columns), measured where a power sensor exists, else estimated from the device profile
// (--power-profile) with the run's time on the text device; the line under the table
// says which. (With a power sensor a span can end up to a scheduling quantum late when
// the sensor's sampler thread was preempted holding the monitor: noise on runs of a few
// milliseconds only.)
#include <sys/resource.h>

#include <algorithm>
#include <ctime>
#include <chrono>
#include <string>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <random>
#include <vector>

#include "backend/device_bench.h"
#include "backend/device_registry.h"
#include "cli/bench_camera.h"
#include "cli/commands.h"
#include "cli/image_options.h"
#include "core/gguf_reader.h"
#include "cli/option_checks.h"
#include "cli/text_options.h"
#include "runtime/device_placement.h"
#include "runtime/energy/energy_account.h"
#include "runtime/energy/event_work.h"
#include "runtime/energy/machine_energy.h"
#include "runtime/energy/mode_costs.h"
#include "runtime/profile/calibration_store.h"

namespace nm::cli {
namespace {

struct BenchOptions {
  TextOptions text;
  int n_prompt = 512;
  int n_gen = 128;
  int repetitions = 5;
  bool prompt_given = false, gen_given = false, reps_given = false;  // -p / -n on the command line (else defaults)
  std::string workload;  // --workload camera:N (cli/bench_camera.h)
  bool json = false;     // --json (with --workload)
  std::string image_size;  // --image-size WxH (with --workload)
};

// "1.10 B", "12.3 M", "840 K" parameters.
std::string params_text(int64_t n) {
  char buf[32];
  if (n >= 1000000000) std::snprintf(buf, sizeof buf, "%.2f B", (double)n / 1e9);
  else if (n >= 1000000) std::snprintf(buf, sizeof buf, "%.1f M", (double)n / 1e6);
  else std::snprintf(buf, sizeof buf, "%.0f K", (double)n / 1e3);
  return buf;
}

// Fits the pp / tg sizes into the context the session can have: an explicit -p / -n past it
// is an error; a default is shortened with a note. Returns false after printing an error.
bool fit_to_context(BenchOptions& o, int n_ctx_train) {
  const bool ctx_given = o.text.n_ctx > 0;
  const int limit = ctx_given ? o.text.n_ctx : n_ctx_train;
  const std::string why = ctx_given ? "the context set by -c" : "the model's training context; -c N runs a longer one";
  struct Size { int& n; bool given; const char* flag; const char* test; };
  for (Size sz : {Size{o.n_prompt, o.prompt_given, "-p", "pp"}, Size{o.n_gen, o.gen_given, "-n", "tg"}}) {
    if (sz.n <= limit) continue;
    if (sz.given) {
      std::fprintf(stderr, "error: %s %d is more than the context (%d tokens: %s)\n", sz.flag, sz.n, limit, why.c_str());
      return false;
    }
    std::fprintf(stderr, "note: %s%d shortened to %s%d: the context is %d tokens (%s)\n", sz.test, sz.n, sz.test, limit,
                 limit, why.c_str());
    sz.n = limit;
  }
  return true;
}

using Clock = std::chrono::steady_clock;

struct Stats { double mean = 0, stddev = 0; };

Stats stats_of(const std::vector<double>& v) {
  Stats s;
  for (double x : v) s.mean += x;
  s.mean /= (double)v.size();
  for (double x : v) s.stddev += (x - s.mean) * (x - s.mean);
  s.stddev = v.size() > 1 ? std::sqrt(s.stddev / (double)(v.size() - 1)) : 0.0;
  return s;
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Joules of each bench run on the text device, from the machine's energy monitor.
class BenchEnergy {
 public:
  BenchEnergy(const TextOptions& text) {
    Result<std::unique_ptr<energy::EnergyMonitor>> m = energy::open_machine_energy(text.power_profile);
    if (!m.ok()) {
      std::fprintf(stderr, "warning: no energy figures: %s\n", m.status().message().c_str());
      return;
    }
    monitor_ = std::move(m).value();
    account_ = std::make_unique<energy::EnergyAccount>(monitor_.get());
    threads_ = text.n_threads > 0 ? text.n_threads : nm_default_threads();
    Result<BrickPlacement> place = parse_device_spec(text.devices);
    device_ = place.ok() && !place->device_for(BrickKind::text).empty() ? place->device_for(BrickKind::text) : "cpu";
    if (device_.rfind("cpu", 0) != 0) {  // PoCL is an OpenCL device of kind cpu: ask the registry
      DeviceRegistry reg = DeviceRegistry::create();
      if (Device* d = reg.find(device_)) kind_ = device_kind_name(d->kind());
    }
  }
  void begin(energy::EnergyPhase phase) {
    if (!account_) return;
    account_->begin_request();
    account_->begin_phase(phase);
  }
  // Joules per token and mean watts of the run just ended; false without a reading.
  bool end(energy::EnergyPhase phase, int tokens, double* j_per_token, double* watts) {
    if (!account_) return false;
    account_->end_phase(phase, device_, threads_, tokens, kind_);
    const energy::EnergyReport& r = account_->end_request();
    if (!r.valid || tokens <= 0) return false;
    *j_per_token = r.phase(phase).joules / tokens;
    *watts = r.phase(phase).seconds > 0 ? r.phase(phase).joules / r.phase(phase).seconds : 0;
    source_ = (r.measured ? "measured by " : "ESTIMATED (no power sensor): ") + r.source;
    return true;
  }
  const std::string& source() const { return source_; }

 private:
  std::unique_ptr<energy::EnergyMonitor> monitor_;
  std::unique_ptr<energy::EnergyAccount> account_;
  std::string device_ = "cpu", kind_ = "cpu", source_;
  int threads_ = 1;
};

// "12.3 ± 0.4" for a column; "-" when nothing was measured.
std::string pm_cell(const std::vector<double>& v, const char* fmt) {
  if (v.empty()) return "-";
  double mean = 0, var = 0;
  for (double x : v) mean += x;
  mean /= (double)v.size();
  for (double x : v) var += (x - mean) * (x - mean);
  const double sd = v.size() > 1 ? std::sqrt(var / (double)(v.size() - 1)) : 0.0;
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, mean, sd);
  return buf;
}

// Returns tokens/s of one prefill of `tokens`, or a negative value on error. The energy
// span (when `energy` is given) covers exactly the timed evaluation.
double run_prefill(nm_session* s, const std::vector<int32_t>& tokens, double* ttft_s, BenchEnergy* energy = nullptr,
                   std::vector<double>* j_per_token = nullptr, std::vector<double>* watts = nullptr) {
  nm_session_reset(s);
  if (energy) energy->begin(energy::EnergyPhase::prefill);
  const auto t0 = Clock::now();
  if (nm_session_eval(s, tokens.data(), (int32_t)tokens.size()) != NM_OK) return -1;
  const double t = seconds_since(t0);
  double j = 0, w = 0;
  if (energy && energy->end(energy::EnergyPhase::prefill, (int)tokens.size(), &j, &w))
    j_per_token->push_back(j), watts->push_back(w);
  int32_t next = 0;
  if (nm_session_sample(s, &next) != NM_OK) return -1;
  if (ttft_s) *ttft_s = seconds_since(t0);
  return (double)tokens.size() / t;
}

// Peak resident memory of the tests, without the bandwidth measurements' buffer: the
// kernel's high-water mark is read before each measurement and reset to the current
// resident set after it (Linux clear_refs "5"). Where the reset is not possible the
// measurements are left for the end, after the peak has been read.
class PeakRss {
 public:
  PeakRss() {
    sample();              // the peak so far (model load) is kept
    can_reset_ = reset();  // a kernel without the "5" command refuses the write
  }
  bool can_reset() const { return can_reset_; }
  void sample() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    peak_kib_ = std::max(peak_kib_, (double)ru.ru_maxrss);
  }
  bool reset() {
    std::FILE* f = std::fopen("/proc/self/clear_refs", "w");
    const bool ok = f && std::fputs("5", f) >= 0;
    if (f && std::fclose(f) != 0) return false;
    return ok;
  }
  double mib() const { return peak_kib_ / 1024.0; }

 private:
  bool can_reset_ = false;
  double peak_kib_ = 0;
};

// One read-bandwidth measurement that leaves the peak-RSS figure alone.
double measure_bandwidth(int n_threads, PeakRss& rss) {
  rss.sample();
  const double bw = nm_measure_read_bandwidth(n_threads);
  rss.reset();
  return bw;
}

double run_decode(nm_session* s, const std::vector<int32_t>& tokens, BenchEnergy* energy = nullptr,
                  std::vector<double>* j_per_token = nullptr, std::vector<double>* watts = nullptr) {
  nm_session_reset(s);
  if (energy) energy->begin(energy::EnergyPhase::decode);
  const auto t0 = Clock::now();
  for (int32_t tok : tokens) {
    if (nm_session_eval(s, &tok, 1) != NM_OK) return -1;
  }
  const double t = seconds_since(t0);
  double j = 0, w = 0;
  if (energy && energy->end(energy::EnergyPhase::decode, (int)tokens.size(), &j, &w))
    j_per_token->push_back(j), watts->push_back(w);
  return (double)tokens.size() / t;
}

// --device: each named device's kernel table first (what the numbers run on is in
// every row: "PoCL (runs on the CPU)" on PoCL), then pp/tg with the bricks placed there.
int bench_kernels(const std::string& spec, int reps) {
  Result<BrickPlacement> placement = parse_device_spec(spec);
  if (!placement.ok()) {
    std::fprintf(stderr, "error: %s\n", placement.status().message().c_str());
    return 1;
  }
  DeviceRegistry reg = DeviceRegistry::create();
  std::vector<Device*> seen;
  for (const std::string& name : placement->device_names()) {
    Result<Device*> dev = resolve_device(reg, name);
    if (!dev.ok()) {
      std::fprintf(stderr, "error: %s\n", dev.status().message().c_str());
      return 1;
    }
    if (!*dev || std::find(seen.begin(), seen.end(), *dev) != seen.end()) continue;
    seen.push_back(*dev);
    const std::string label = device_bench_label(**dev);
    std::printf("kernels on %s: %s\n", (*dev)->name().c_str(), (*dev)->description().c_str());
    std::printf("| kernel                               |   ms/run |     throughput | on\n");
    bench_device_kernels(**dev, reps, {}, [&](const KernelBenchResult& r) {
      if (!r.status.ok()) std::printf("| %-36s | %s\n", r.name.c_str(), r.status.to_string().c_str());
      else std::printf("| %-36s | %8.3f | %6.1f %-7s | %s\n", r.name.c_str(), r.ms, r.throughput, r.unit, label.c_str());
      std::fflush(stdout);
    });
    std::printf("\n");
  }
  return 0;
}

// Issue 15 item 7: the cost model's prediction from this machine's calibrated profile
// (nanomind calibrate) beside each measurement, and its error (predicted speed / measured
// speed - 1: tokens/s for pp and tg, images/s for the image encode).
void print_prediction(const TextOptions& text, int n_prompt, const std::vector<double>& pp, int n_gen,
                      const std::vector<double>& tg, const std::vector<double>& images) {
  DeviceRegistryOptions ro;
  ro.log = [](const std::string&) {};
  DeviceRegistry reg = DeviceRegistry::create(ro);
  std::vector<Device*> all;
  for (const auto& d : reg.devices()) all.push_back(d.get());
  const StoredCalibration cal = find_calibration(machine_key(machine_description(all)), build_description(),
                                                 static_cast<int64_t>(std::time(nullptr)));
  auto none = [](const std::string& why) { std::printf("prediction: none (%s)\n", why.c_str()); };
  if (!cal.exists) return none("no calibrated profile for this machine: run nanomind calibrate");
  if (!cal.status.ok()) return none(cal.status.message());
  // The devices --device puts the two bricks on ("" there: the CPU).
  Result<BrickPlacement> placement = parse_device_spec(text.devices);
  if (!placement.ok()) return none(placement.status().message());
  auto device_of = [&](BrickKind brick) {
    const std::string& name = placement->device_for(brick);
    return name.empty() ? std::string("cpu") : name;
  };
  const std::string device = device_of(BrickKind::text), vision_device = device_of(BrickKind::vision);
  for (const std::string& d : {device, vision_device})
    if (!cal.profile.device(d)) return none("the calibrated profile has no device '" + d + "'");
  Result<GgufFile> file = GgufFile::open(text.model_path);
  if (!file.ok()) return none(file.status().message());
  std::optional<GgufFile> mmproj;
  if (!images.empty()) {
    Result<GgufFile> m = GgufFile::open(text.mmproj_path);
    if (!m.ok()) return none(m.status().message());
    mmproj = std::move(*m);
  }
  energy::EventShape shape;
  shape.prompt_tokens = std::max(n_prompt, 1);
  shape.answer_tokens = std::max(n_gen, 1);
  // Without an image the prefill is the pp prompt alone (the image tokens are not in it).
  Result<std::vector<energy::BrickWork>> work =
      energy::question_work(*file, nullptr, shape, {vision_device, device}, nullptr);
  if (!work.ok()) return none(work.status().message());
  Result<std::vector<energy::BrickWork>> vision_work =
      mmproj ? energy::question_work(*file, &*mmproj, shape, {vision_device, device}, nullptr) : work;
  if (!vision_work.ok()) return none(vision_work.status().message());
  std::printf("prediction from %s (calibrated %s ago%s):", cal.path.c_str(), format_age(cal.age_s).c_str(),
              cal.same_build ? "" : " by another build");
  auto show = [&](const std::string& test, double n, const char* unit, const std::vector<double>& measured,
                  const energy::BrickWork& w) {
    if (measured.empty()) return;
    Result<energy::WorkTime> t = energy::estimate_work_time(cal.profile, w);
    if (!t.ok()) return (void)std::printf(" %s: %s", test.c_str(), t.status().message().c_str());
    const double predicted = n / t->seconds, mean = stats_of(measured).mean;
    std::printf(" %s %.4g %s (measured %.4g, error %+.0f%%%s)", test.c_str(), predicted, unit, mean,
                100.0 * (predicted / mean - 1.0), t->measured_rate ? "" : ", no measured rate for its weight type");
  };
  show("pp" + std::to_string(n_prompt), n_prompt, "t/s", pp, (*work)[0]);
  show("tg" + std::to_string(n_gen), n_gen, "t/s", tg, (*work)[1]);
  if (mmproj) show("image", 1, "images/s", images, (*vision_work)[0]);
  std::printf("\n");
}

// The vision brick: one image of the encoder's own size (nothing to resize) run through
// nm_session_encode_image `reps` times after a warm-up; prints its line and appends each
// run's images/s. False (the session's error set) when the encode fails.
bool bench_image(nm_session* session, const std::string& mmproj_path, int reps, std::vector<double>* images) {
  Result<GgufFile> f = GgufFile::open(mmproj_path);
  Result<int64_t> size = f.ok() ? f->get_int("clip.vision.image_size") : Result<int64_t>(f.status());
  if (!size.ok() || *size < 1 || *size > 4096) {
    std::printf("image: not measured (%s)\n", size.ok() ? "image size out of range" : size.status().message().c_str());
    return true;
  }
  const int side = static_cast<int>(*size);
  std::vector<uint8_t> rgb(static_cast<size_t>(side) * side * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>((i * 2654435761u) >> 24);
  const nm_image image{nullptr, rgb.data(), side, side};
  int32_t n_tokens = 0, n_embd = 0;
  if (nm_session_encode_image(session, &image, nullptr, 0, &n_tokens, &n_embd) != NM_ERR_OUT_OF_RANGE) return false;
  std::vector<float> out(static_cast<size_t>(n_tokens) * static_cast<size_t>(n_embd));
  for (int r = 0; r <= reps; ++r) {  // run 0: the warm-up
    const auto t0 = std::chrono::steady_clock::now();
    if (nm_session_encode_image(session, &image, out.data(), static_cast<int64_t>(out.size()), &n_tokens, &n_embd) != NM_OK)
      return false;
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (r > 0) images->push_back(1.0 / s);
  }
  const Stats st = stats_of(*images);
  std::printf("image encode (%dx%d, %d tokens out): %.4g ± %.2g images/s, %d runs\n", side, side, n_tokens, st.mean,
              st.stddev, reps);
  return true;
}

int bench(BenchOptions o) {
  if (!o.workload.empty()) {
    auto n_frames = parse_camera_workload(o.workload);
    if (!n_frames.ok()) {
      std::fprintf(stderr, "error: %s\n", n_frames.status().message().c_str());
      return 1;
    }
    TextOptions text = o.text;
    apply_image_size(ImageOptions{{}, o.image_size}, text);
    return bench_camera(text, n_frames.value(), o.gen_given ? o.n_gen : 16, o.json, o.reps_given ? o.repetitions : 1);
  }
  if (o.json || !o.image_size.empty()) {
    std::fprintf(stderr, "error: %s goes with --workload camera:N\n", o.json ? "--json" : "--image-size");
    return 1;
  }
  if (!o.text.devices.empty() && bench_kernels(o.text.devices, o.repetitions) != 0) return 1;
  TextOptions text = o.text;
  std::unique_ptr<nm_model, decltype(&nm_model_free)> model(load_model_or_report(text), nm_model_free);
  if (!model) return 1;
  nm_model_info info;
  if (nm_model_get_info(model.get(), &info) != NM_OK) return 1;
  if (!fit_to_context(o, info.n_ctx_train)) return 1;
  constexpr int kWarmupTokens = 8;  // the decode warm-up below
  if (text.n_ctx == 0) text.n_ctx = std::max({o.n_prompt, o.n_gen, kWarmupTokens});
  std::unique_ptr<nm_session, decltype(&nm_session_free)> session(open_session_or_report(model.get(), text),
                                                                 nm_session_free);
  if (!session) return 1;
  const TraceWriter trace(session.get(), text);

  std::mt19937 rng(42);
  auto random_tokens = [&](int n) {
    std::vector<int32_t> t((size_t)n);
    for (auto& x : t) x = (int32_t)(rng() % (uint32_t)info.n_vocab);
    return t;
  };

  std::printf("model: %s %s, %s params, %.1f MiB, %d threads\n", info.arch, info.weight_type,
              params_text(info.n_params).c_str(), (double)info.weight_bytes / (1 << 20),
              text.n_threads > 0 ? text.n_threads : nm_default_threads());
  std::printf("| test   |          t/s |           J/token |              W | runs |\n"
              "|--------|--------------|-------------------|----------------|------|\n");
  std::vector<double> pp, tg, ttft, bw;  // bw[r], bw[r + 1]: around tg run r
  std::vector<double> pp_j, pp_w, tg_j, tg_w;
  std::vector<double> images;  // images/s of each image encode
  BenchEnergy energy(text);
  PeakRss rss;
  if (o.n_prompt > 0) {
    const auto prompt = random_tokens(o.n_prompt);
    double t;
    if (run_prefill(session.get(), prompt, &t) < 0) goto fail;  // warm-up
    for (int r = 0; r < o.repetitions; ++r) {
      double first = 0;
      const double v = run_prefill(session.get(), prompt, &first, &energy, &pp_j, &pp_w);
      if (v < 0) goto fail;
      pp.push_back(v);
      ttft.push_back(first * 1000.0);
    }
    const Stats s = stats_of(pp);
    std::printf("| pp%-4d | %7.2f ± %4.2f | %17s | %14s | %4d |\n", o.n_prompt, s.mean, s.stddev,
                pm_cell(pp_j, "%.4g ± %.2g").c_str(), pm_cell(pp_w, "%.3g ± %.1g").c_str(), o.repetitions);
  }
  if (o.n_gen > 0) {
    const auto gen = random_tokens(o.n_gen);
    if (run_decode(session.get(), random_tokens(std::min(kWarmupTokens, text.n_ctx))) < 0) goto fail;  // warm-up
    if (rss.can_reset()) bw.push_back(measure_bandwidth(text.n_threads, rss));
    for (int r = 0; r < o.repetitions; ++r) {
      const double v = run_decode(session.get(), gen, &energy, &tg_j, &tg_w);
      if (v < 0) goto fail;
      tg.push_back(v);
      if (rss.can_reset()) bw.push_back(measure_bandwidth(text.n_threads, rss));
    }
    const Stats s = stats_of(tg);
    std::printf("| tg%-4d | %7.2f ± %4.2f | %17s | %14s | %4d |\n", o.n_gen, s.mean, s.stddev,
                pm_cell(tg_j, "%.4g ± %.2g").c_str(), pm_cell(tg_w, "%.3g ± %.1g").c_str(), o.repetitions);
  }
  std::printf("energy: %s\n", energy.source().empty() ? "not reported (no power sensor and no device profile)"
                                                       : energy.source().c_str());
  if (!text.mmproj_path.empty() && !bench_image(session.get(), text.mmproj_path, o.repetitions, &images)) goto fail;
  print_prediction(text, o.n_prompt, pp, o.n_gen, tg, images);
  {
    if (!ttft.empty()) {
      const Stats s = stats_of(ttft);
      std::printf("time to first token (pp%d prompt): %.1f ± %.1f ms\n", o.n_prompt, s.mean, s.stddev);
    }
    rss.sample();
    std::printf("peak resident memory: %.1f MiB (weights %.1f MiB)\n", rss.mib(), (double)info.weight_bytes / (1 << 20));
    if (!tg.empty()) {
      if (bw.empty()) bw.assign(tg.size() + 1, nm_measure_read_bandwidth(text.n_threads));  // no reset: at the end
      const double per_token = (double)info.weight_bytes_per_token;
      std::vector<double> frac;  // each run against the bandwidth measured around it
      for (size_t r = 0; r < tg.size(); ++r) frac.push_back(100.0 * tg[r] * per_token / (0.5 * (bw[r] + bw[r + 1])));
      const Stats b = stats_of(bw), f = stats_of(frac);
      const auto [lo, hi] = std::minmax_element(bw.begin(), bw.end());
      std::printf("decode roofline: %.1f MiB read per token, read bandwidth %.2f GB/s (%.2f-%.2f over %zu "
                  "measurements between the tg runs) → %.2f tok/s max; tg = %.3g ± %.2g%% of roofline\n",
                  per_token / (1 << 20), b.mean / 1e9, *lo / 1e9, *hi / 1e9, bw.size(), b.mean / per_token, f.mean,
                  f.stddev);
      if (f.mean > 100) {
        std::printf("note: tg is above 100%% of the roofline: the %.1f MiB read per token fit in the CPU caches, so "
                    "decode is not limited by memory bandwidth here and the roofline does not bound it\n",
                    per_token / (1 << 20));
      }
    }
  }
  return 0;
fail:
  std::fprintf(stderr, "error: %s\n", nm_session_last_error(session.get()));
  return 1;
}

}  // namespace

void register_bench(CLI::App& app) {
  auto opts = std::make_shared<BenchOptions>();
  auto* cmd = app.add_subcommand("bench", "Measure prefill and decode speed (llama-bench style), and with an mmproj the image encode");
  add_model_options(*cmd, opts->text);
  add_device_option(*cmd, opts->text);
  const std::string tokens = "0 (skip) to " + std::to_string(NM_MAX_CTX) + " tokens";
  cmd->add_option("-p,--n-prompt", opts->n_prompt,
                  "Prompt tokens for the pp test (0 = skip; default 512, or the model's context when shorter)")
      ->check(int_in(0, NM_MAX_CTX, tokens));
  cmd->add_option("-n,--n-gen", opts->n_gen,
                  "Generated tokens for the tg test (0 = skip; default 128, or the model's context when shorter)")
      ->check(int_in(0, NM_MAX_CTX, tokens));
  cmd->add_option("-r,--repetitions", opts->repetitions,
                  "Runs per test (default 5); with --workload, rounds of the three modes, their order rotated "
                  "each round (default 1)")
      ->check(int_in(1, 1000, "1 to 1000 runs"));
  cmd->add_option("--workload", opts->workload,
                  "camera:N — N camera frames with a question each, run three ways in one invocation: monolithic "
                  "(one device, every brick resident, one after the other, embeddings copied), nanomind "
                  "(bricks on their own devices — vision=cpu:0,text=cpu:1 under NM_CPU_CLUSTERS=0|1 —, pipelined, "
                  "zero-copy ring, on-demand residency) and cascade (every core for each brick, one after the "
                  "other, zero-copy ring, on demand: never both bricks resident); -n is the answer length "
                  "(default 16), -r the number of rounds");
  cmd->add_flag("--json", opts->json, "With --workload: print the figures as JSON");
  add_image_size_option(*cmd, opts->image_size);
  cmd->callback([opts, cmd] {
    opts->prompt_given = cmd->count("-p") > 0;
    opts->gen_given = cmd->count("-n") > 0;
    opts->reps_given = cmd->count("-r") > 0;
    throw CLI::RuntimeError(bench(*opts));
  });
}

}  // namespace nm::cli
