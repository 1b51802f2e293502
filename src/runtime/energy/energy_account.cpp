// Per-request energy accounting (see energy_account.h).
#include "runtime/energy/energy_account.h"

#include <algorithm>

namespace nm::energy {

const char* energy_phase_name(EnergyPhase p) {
  switch (p) {
    case EnergyPhase::vision: return "vision";
    case EnergyPhase::prefill: return "prefill";
    case EnergyPhase::decode: return "decode";
  }
  return "?";
}

void EnergyAccount::begin_request(bool phases_only) {
  pending_ = EnergyReport{};
  open_.clear();
  phases_only_ = phases_only;
  request_ = EnergySpan{};
  if (monitor_ && !phases_only) request_ = monitor_->begin();
}

void EnergyAccount::note_reading(const EnergyReading& r) {
  pending_.source = r.source;
  pending_.measured = r.measured;
  if (phases_only_) pending_.valid = true;
}

void EnergyAccount::add_to_phase(EnergyPhase p, const EnergyReading& step, double share, int tokens) {
  PhaseEnergy& e = pending_.phases[static_cast<int>(p)];
  e.joules += step.joules * share;
  e.seconds += step.seconds;
  e.tokens += tokens;
  note_reading(step);
}

void EnergyAccount::set_phase_tokens(EnergyPhase p, int tokens) { pending_.phases[static_cast<int>(p)].tokens = tokens; }

void EnergyAccount::begin_phase(EnergyPhase p) {
  OpenPhase o{p, {}, std::chrono::steady_clock::now()};
  if (monitor_) o.span = monitor_->begin();
  open_.push_back(std::move(o));
}

void EnergyAccount::end_phase(EnergyPhase p, const std::string& device, int threads, int tokens,
                              const std::string& kind) {
  if (open_.empty() || open_.back().phase != p) return;  // unbalanced: a caller's bug, nothing to charge
  OpenPhase o = std::move(open_.back());
  open_.pop_back();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - o.start).count();
  PhaseEnergy& e = pending_.phases[static_cast<int>(p)];
  e.tokens += tokens;
  if (!monitor_ || !o.span.open()) return;
  // Before the span closes, so that the estimate includes it; nested phases charged their own.
  monitor_->note_busy(device, elapsed - o.inner_busy_s, threads, kind);
  Result<EnergyReading> r = o.span.finish();
  if (!r.ok()) return;
  e.joules += std::max(0.0, r->joules - o.inner_j);
  e.seconds += std::max(0.0, r->seconds - o.inner_s);
  note_reading(*r);
  if (!open_.empty()) {
    open_.back().inner_j += r->joules;
    open_.back().inner_s += r->seconds;
    open_.back().inner_busy_s += elapsed;
  }
}

const EnergyReport& EnergyAccount::end_request() {
  if (phases_only_) {
    pending_.joules = pending_.seconds = 0;
    for (const PhaseEnergy& e : pending_.phases) {
      pending_.joules += e.joules;
      pending_.seconds += e.seconds;
    }
  } else if (monitor_ && request_.open()) {
    Result<EnergyReading> r = request_.finish();
    if (r.ok()) {
      pending_.valid = true;
      pending_.joules = r->joules;
      pending_.seconds = r->seconds;
      pending_.measured = r->measured;
      pending_.source = r->source;
    }
  }
  report_ = pending_;
  return report_;
}

}  // namespace nm::energy
