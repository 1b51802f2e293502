// EnergyMonitor: discovery, spans, fallback and the sampler thread (see energy_monitor.h).
#include "runtime/energy/energy_monitor.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "runtime/energy/battery_gauge.h"
#include "runtime/energy/estimated_meter.h"
#include "runtime/energy/hwmon_meter.h"
#include "runtime/energy/rapl_meter.h"
#include "runtime/energy/sysfs_reader.h"

namespace nm::energy {

std::vector<std::unique_ptr<EnergyMeter>> discover_meters(const std::string& root, std::vector<std::string>* notes) {
  std::vector<std::unique_ptr<EnergyMeter>> out;
  Result<std::unique_ptr<RaplMeter>> rapl = RaplMeter::discover(root);
  if (rapl.ok()) out.push_back(std::move(*rapl));
  else if (notes && rapl.status().code() != ErrorCode::unsupported) notes->push_back(rapl.status().message());
  for (auto& m : HwmonMeter::discover(root, notes)) out.push_back(std::move(m));
  for (const std::string& dir : find_batteries(root)) {
    Result<std::unique_ptr<BatteryGaugeMeter>> b = BatteryGaugeMeter::open(dir);
    if (b.ok()) out.push_back(std::move(*b));
    else if (notes) notes->push_back(b.status().message());
  }
  return out;
}

// ---- EnergySpan ----

EnergySpan::EnergySpan(EnergySpan&& o) noexcept : monitor_(o.monitor_), t0_(o.t0_), marks_(std::move(o.marks_)) {
  o.monitor_ = nullptr;
}

EnergySpan& EnergySpan::operator=(EnergySpan&& o) noexcept {
  if (this != &o) {
    if (monitor_) monitor_->close_span();
    monitor_ = o.monitor_, t0_ = o.t0_, marks_ = std::move(o.marks_);
    o.monitor_ = nullptr;
  }
  return *this;
}

EnergySpan::~EnergySpan() {
  if (monitor_) monitor_->close_span();
}

Result<EnergyReading> EnergySpan::finish() {
  if (!monitor_) return error(ErrorCode::internal, "energy span finished twice or never begun");
  Result<EnergyReading> r = monitor_->read_span(*this);
  monitor_->close_span();
  monitor_ = nullptr;
  return r;
}

Result<EnergyReading> EnergySpan::peek() const {
  if (!monitor_) return error(ErrorCode::internal, "energy span is not open");
  return monitor_->read_span(*this);
}

// ---- EnergyMonitor ----

EnergyMonitor::EnergyMonitor(EnergyMonitorOptions options) : options_(std::move(options)) {
  root_ = sysfs_root(options_.sysfs_root);
}

std::unique_ptr<EnergyMonitor> EnergyMonitor::create(EnergyMonitorOptions options) {
  std::unique_ptr<EnergyMonitor> m(new EnergyMonitor(std::move(options)));
  std::lock_guard<std::mutex> lock(m->mu_);
  if (m->options_.power_model) m->add_locked(std::make_unique<EstimatedEnergyMeter>(*m->options_.power_model));
  if (m->options_.discover) m->rescan_locked(/*log_summary=*/true);
  return m;
}

EnergyMonitor::~EnergyMonitor() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (sampler_.joinable()) sampler_.join();
}

double EnergyMonitor::now() const {
  if (options_.clock) return options_.clock();
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

void EnergyMonitor::log(const std::string& line) const {
  if (options_.log) options_.log(line);
  else std::fprintf(stderr, "nanomind: energy: %s\n", line.c_str());
}

void EnergyMonitor::add_locked(std::unique_ptr<EnergyMeter> meter) {
  meters_.push_back(std::move(meter));
  const std::string& prefer = options_.prefer;
  std::stable_sort(meters_.begin(), meters_.end(), [&](const auto& a, const auto& b) {
    const bool pa = !prefer.empty() && a->name() == prefer, pb = !prefer.empty() && b->name() == prefer;
    if (pa != pb) return pa;
    return a->rank() < b->rank();
  });
}

void EnergyMonitor::add_meter(std::unique_ptr<EnergyMeter> meter) {
  std::lock_guard<std::mutex> lock(mu_);
  add_locked(std::move(meter));
}

void EnergyMonitor::rescan_locked(bool log_summary) {
  last_rescan_ = now();
  std::vector<std::string> notes;
  std::vector<std::unique_ptr<EnergyMeter>> found = discover_meters(root_, &notes);
  int added = 0;
  for (auto& m : found) {
    const bool known = std::any_of(meters_.begin(), meters_.end(), [&](const auto& x) { return x->name() == m->name(); });
    if (known) continue;
    if (!log_summary) log("new sensor: " + m->description());
    add_locked(std::move(m));
    ++added;
  }
  if (!log_summary) return;
  for (const std::string& n : notes) log(n);
  if (!options_.prefer.empty() &&
      std::none_of(meters_.begin(), meters_.end(), [&](const auto& x) { return x->name() == options_.prefer; }))
    log("no meter named '" + options_.prefer + "'; using the others");
}

void EnergyMonitor::rescan() {
  std::lock_guard<std::mutex> lock(mu_);
  rescan_locked(false);
}

void EnergyMonitor::sample_locked(double t) {
  for (auto& m : meters_) (void)m->sample(t);  // failures are recorded in the meter
}

void EnergyMonitor::sample() {
  std::lock_guard<std::mutex> lock(mu_);
  sample_locked(now());
}

EnergySpan EnergyMonitor::begin() {
  std::unique_lock<std::mutex> lock(mu_);
  const double t = now();
  if (options_.discover && t - last_rescan_ >= options_.rescan_period_s) rescan_locked(false);
  sample_locked(t);
  EnergySpan span;
  span.monitor_ = this;
  span.t0_ = t;
  for (const auto& m : meters_)
    if (m->healthy()) span.marks_[m->name()] = {m->total_joules(), m->epoch()};
  ++open_spans_;
  if (options_.sample_period_s > 0 && !sampler_.joinable() && needs_sampling_locked())
    sampler_ = std::thread([this] { sampler_main(); });
  lock.unlock();
  cv_.notify_all();
  return span;
}

void EnergyMonitor::close_span() {
  std::lock_guard<std::mutex> lock(mu_);
  if (open_spans_ > 0) --open_spans_;
}

Result<EnergyReading> EnergyMonitor::read_span(const EnergySpan& span) {
  std::lock_guard<std::mutex> lock(mu_);
  const double t = now();
  sample_locked(t);
  const EnergyMeter* best_at_start = nullptr;  // what the span would have used had nothing failed
  for (const auto& m : meters_) {
    auto it = span.marks_.find(m->name());
    if (it == span.marks_.end()) continue;
    if (!best_at_start) best_at_start = m.get();
    if (!m->healthy() || m->epoch() != it->second.epoch) continue;
    EnergyReading r;
    r.joules = std::max(0.0, m->total_joules() - it->second.total_j);
    r.seconds = t - span.t0_;
    r.meter = m->name();
    r.source = m->description();
    r.measured = m->measured();
    if (m.get() != best_at_start && last_used_ != m->name()) {
      const std::string why = best_at_start->healthy() ? "lost continuity" : best_at_start->last_error().message();
      log(best_at_start->description() + ": " + why + "; falling back to " + m->description());
    }
    last_used_ = m->name();
    return r;
  }
  if (meters_.empty())
    return error(ErrorCode::unsupported, "no energy meter: no power sensor on this machine and no device profile for an estimate");
  std::string why;
  for (const auto& m : meters_)
    if (!m->healthy()) why += (why.empty() ? "" : "; ") + m->last_error().message();
  return error(ErrorCode::unsupported, "no energy meter covered the whole interval" + (why.empty() ? "" : ": " + why));
}

void EnergyMonitor::note_busy(const std::string& runtime_device, double seconds, int threads, const std::string& kind) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& m : meters_)
    if (auto* e = dynamic_cast<EstimatedEnergyMeter*>(m.get())) e->add_busy(runtime_device, seconds, threads, kind);
}

static MeterInfo info_of(const EnergyMeter& m) {
  return {m.name(), m.description(), m.kind(), m.rank(), m.healthy(), m.last_error().ok() ? "" : m.last_error().message()};
}

MeterInfo EnergyMonitor::primary() const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& m : meters_)
    if (m->healthy() || m->last_error().ok()) return info_of(*m);
  return {};
}

bool EnergyMonitor::has_meter() const {
  std::lock_guard<std::mutex> lock(mu_);
  return !meters_.empty();
}

bool EnergyMonitor::measuring() const {
  std::lock_guard<std::mutex> lock(mu_);
  return std::any_of(meters_.begin(), meters_.end(), [](const auto& m) { return m->measured() && m->healthy(); });
}

std::vector<MeterInfo> EnergyMonitor::meters() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<MeterInfo> out;
  for (const auto& m : meters_) out.push_back(info_of(*m));
  return out;
}

bool EnergyMonitor::needs_sampling_locked() const {
  // Power sensors are integrated between samples; counters only need one sample per wrap
  // period and the estimate none at all, so without a power sensor nothing wakes up.
  return std::any_of(meters_.begin(), meters_.end(), [](const auto& m) {
    return m->kind() == EnergySourceKind::power || m->kind() == EnergySourceKind::gauge;
  });
}

void EnergyMonitor::sampler_main() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (open_spans_ == 0 || !needs_sampling_locked()) {
      cv_.wait(lock, [&] { return stopping_ || (open_spans_ > 0 && needs_sampling_locked()); });  // idle: no wake-ups
      continue;
    }
    cv_.wait_for(lock, std::chrono::duration<double>(options_.sample_period_s), [&] { return stopping_; });
    if (!stopping_ && open_spans_ > 0) sample_locked(now());
  }
}

}  // namespace nm::energy
