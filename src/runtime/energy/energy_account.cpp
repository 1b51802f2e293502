// Per-request energy accounting (see energy_account.h).
#include "runtime/energy/energy_account.h"

namespace nm::energy {

const char* energy_phase_name(EnergyPhase p) {
  switch (p) {
    case EnergyPhase::vision: return "vision";
    case EnergyPhase::prefill: return "prefill";
    case EnergyPhase::decode: return "decode";
  }
  return "?";
}

void EnergyAccount::begin_request() {
  pending_ = EnergyReport{};
  if (monitor_) request_ = monitor_->begin();
}

void EnergyAccount::begin_phase(EnergyPhase) {
  phase_start_ = std::chrono::steady_clock::now();
  if (monitor_) phase_ = monitor_->begin();
}

void EnergyAccount::end_phase(EnergyPhase p, const std::string& device, int threads, int tokens) {
  const double busy = std::chrono::duration<double>(std::chrono::steady_clock::now() - phase_start_).count();
  PhaseEnergy& e = pending_.phases[static_cast<int>(p)];
  e.tokens += tokens;
  if (!monitor_ || !phase_.open()) return;
  monitor_->note_busy(device, busy, threads);  // before the span closes, so the estimate includes it
  Result<EnergyReading> r = phase_.finish();
  if (!r.ok()) return;
  e.joules += r->joules;
  e.seconds += r->seconds;
}

const EnergyReport& EnergyAccount::end_request() {
  if (monitor_ && request_.open()) {
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
