// Battery-life arithmetic (see battery_life.h).
#include "runtime/energy/battery_life.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace nm::energy {

namespace {

std::string fmt(const char* f, double a, double b = 0, double c = 0, double d = 0, double e = 0, double g = 0) {
  char buf[256];
  std::snprintf(buf, sizeof buf, f, a, b, c, d, e, g);
  return buf;
}

}  // namespace

Result<DutyCycle> parse_duty_cycle(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return error(ErrorCode::invalid_argument, "--duty '" + text + "': " + why +
                                                  " (expected e.g. \"camera question every 60s\")");
  };
  const size_t at = text.find(" every ");
  if (at == std::string::npos) return bad("no ' every '");
  DutyCycle d;
  d.event = text.substr(0, at);
  while (!d.event.empty() && std::isspace(static_cast<unsigned char>(d.event.back()))) d.event.pop_back();
  while (!d.event.empty() && std::isspace(static_cast<unsigned char>(d.event.front()))) d.event.erase(0, 1);
  if (d.event.empty()) return bad("no event named");
  std::string period = text.substr(at + 7);
  size_t i = 0;
  while (i < period.size() && std::isspace(static_cast<unsigned char>(period[i]))) ++i;
  size_t j = i;
  while (j < period.size() && (std::isdigit(static_cast<unsigned char>(period[j])) || period[j] == '.')) ++j;
  double v = 0;
  if (j == i || std::from_chars(period.data() + i, period.data() + j, v).ptr != period.data() + j) return bad("no period");
  std::string unit = period.substr(j);
  unit.erase(std::remove_if(unit.begin(), unit.end(), [](unsigned char c) { return std::isspace(c); }), unit.end());
  double scale;
  if (unit == "s" || unit == "sec" || unit == "seconds" || unit == "second") scale = 1;
  else if (unit == "min" || unit == "minute" || unit == "minutes" || unit == "m") scale = 60;
  else if (unit == "h" || unit == "hour" || unit == "hours") scale = 3600;
  else return bad("unknown unit '" + unit + "' (s, min, h)");
  d.period_s = v * scale;
  if (!(d.period_s >= 0.001 && d.period_s <= 30 * 86400.0)) return bad("period must lie between 1 ms and 30 days");
  return d;
}

Result<BatteryLife> battery_life(double capacity_j, const ModePower& m, double period_s) {
  if (!(capacity_j > 0) || !(period_s > 0)) return error(ErrorCode::invalid_argument, "battery life needs a capacity and a period above 0");
  if (!(m.base_w >= 0 && m.stream_w >= 0 && m.event_j >= 0) || !std::isfinite(m.base_w + m.stream_w + m.event_j))
    return error(ErrorCode::invalid_argument, "battery life: power and energy figures must be finite and not negative");
  BatteryLife b;
  b.mode = m.mode;
  const double event_w = m.event_j / period_s;
  b.mean_w = m.base_w + m.stream_w + event_w;
  if (!(b.mean_w > 0)) return error(ErrorCode::invalid_argument, "battery life: the mode draws no power at all");
  b.hours = capacity_j / b.mean_w / 3600.0;
  b.arithmetic = fmt("%.3f W + %.3f W + %.2f J / %.0f s = %.3f W", m.base_w, m.stream_w, m.event_j, period_s, b.mean_w) +
                 fmt("; %.0f J / %.3f W = %.2f h", capacity_j, b.mean_w, b.hours);
  return b;
}

Result<BatteryLife> battery_life_auto(double capacity_j, const ModePower& par, const ModePower& thr, const ModePower& ond,
                                      double period_s, const PowerPolicyConfig& cfg) {
  NM_ASSIGN_OR_RETURN(PowerPolicy policy, PowerPolicy::create(cfg));
  for (const ModePower* m : {&par, &thr, &ond}) NM_RETURN_IF_ERROR(battery_life(capacity_j, *m, period_s).status());
  // Walk the charge down in 0.1% steps; each step lasts its energy / the mean power of the
  // mode (and alpha) the policy picks at that level.
  const int steps = 1000;
  const double step_j = capacity_j / steps;
  double seconds = 0, t_par = 0, t_thr = 0, t_ond = 0;
  for (int k = steps; k > 0; --k) {
    const double level = (k - 0.5) / steps;  // mid-step level
    policy.update(level, false, seconds);
    const ModePower* m = policy.mode() == PowerMode::parallel ? &par : policy.mode() == PowerMode::throttled ? &thr : &ond;
    const double stream = policy.mode() == PowerMode::throttled ? thr.stream_w * policy.alpha() : m->stream_w;
    const double w = m->base_w + stream + m->event_j / period_s;
    const double dt = step_j / w;
    seconds += dt;
    (policy.mode() == PowerMode::parallel ? t_par : policy.mode() == PowerMode::throttled ? t_thr : t_ond) += dt;
  }
  BatteryLife b;
  b.mode = PowerMode::parallel;
  b.hours = seconds / 3600.0;
  b.mean_w = capacity_j / seconds;
  b.arithmetic = fmt("parallel %.2f h above %.0f%%, throttled %.2f h down to %.0f%% (alpha falling from 1 to %.2f), ",
                     t_par / 3600, cfg.t_high * 100, t_thr / 3600, cfg.t_low * 100, cfg.min_alpha) +
                 fmt("on-demand %.2f h below it: %.2f h, mean %.3f W", t_ond / 3600, b.hours, b.mean_w);
  return b;
}

}  // namespace nm::energy
