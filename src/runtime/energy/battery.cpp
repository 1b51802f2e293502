// Battery specs, the simulated battery and the fuel-gauge source (see battery.h).
#include "runtime/energy/battery.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "runtime/energy/sysfs_reader.h"

namespace nm::energy {

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

// A leading decimal number (no exponent, no sign): "2000" of "2000mAh". The unit is the
// rest, trimmed.
bool split_number(const std::string& text, double* value, std::string* unit) {
  const std::string t = trim(text);
  size_t i = 0;
  while (i < t.size() && (std::isdigit(static_cast<unsigned char>(t[i])) || t[i] == '.')) ++i;
  if (i == 0) return false;
  const auto [ptr, ec] = std::from_chars(t.data(), t.data() + i, *value);
  if (ec != std::errc() || ptr != t.data() + i || !std::isfinite(*value)) return false;
  *unit = lower(trim(t.substr(i)));
  return true;
}

}  // namespace

Result<double> parse_battery_capacity(const std::string& text, double volts) {
  double v = 0;
  std::string unit;
  if (!split_number(text, &v, &unit))
    return error(ErrorCode::invalid_argument, "battery capacity '" + text + "': expected a number and a unit (2000mAh, 7.4Wh, 26640J)");
  double joules;
  if (unit == "mah" || unit == "ah") {
    if (!(volts > 0 && volts < 1000))
      return error(ErrorCode::invalid_argument, "battery capacity '" + text + "' in Ah needs a voltage above 0 V");
    joules = v * (unit == "mah" ? 1e-3 : 1.0) * 3600.0 * volts;
  } else if (unit == "wh") {
    joules = v * 3600.0;
  } else if (unit == "mwh") {
    joules = v * 3.6;
  } else if (unit == "j") {
    joules = v;
  } else if (unit == "kj") {
    joules = v * 1e3;
  } else {
    return error(ErrorCode::invalid_argument, "battery capacity '" + text + "': unknown unit '" + unit +
                                                  "' (mAh, Ah, Wh, mWh, J, kJ)");
  }
  if (!(joules > 0)) return error(ErrorCode::invalid_argument, "battery capacity '" + text + "' must be above zero");
  if (joules > 1e7) return error(ErrorCode::invalid_argument, "battery capacity '" + text + "' is implausibly large (> 10 MJ)");
  return joules;
}

Result<double> parse_level(const std::string& text) {
  double v = 0;
  std::string unit;
  if (!split_number(text, &v, &unit) || (unit != "%" && !unit.empty()))
    return error(ErrorCode::invalid_argument, "battery level '" + text + "': expected a percentage (80%) or a fraction (0.8)");
  if (unit == "%") v /= 100.0;
  if (v < 0 || v > 1) return error(ErrorCode::invalid_argument, "battery level '" + text + "' is outside 0-100%");
  return v;
}

Result<BatterySpec> parse_battery_spec(const std::string& text_in) {
  BatterySpec spec;
  spec.text = text_in;
  const std::string text = trim(text_in);
  if (text.empty() || text == "none") return spec;
  if (text == "sysfs" || text.rfind("sysfs:", 0) == 0) {
    spec.kind = BatterySpec::Kind::sysfs;
    if (text.size() > 6) spec.sysfs_name = text.substr(6);
    if (spec.sysfs_name.find('/') != std::string::npos || spec.sysfs_name == "." || spec.sysfs_name == "..")
      return error(ErrorCode::invalid_argument, "--battery " + text + ": a battery name, not a path");
    return spec;
  }
  if (text.rfind("sim:", 0) != 0)
    return error(ErrorCode::invalid_argument, "--battery '" + text +
                                                  "': expected sim:CAPACITY[@VOLTS][,start=LEVEL], sysfs[:NAME] or none");
  spec.kind = BatterySpec::Kind::sim;
  std::string rest = text.substr(4);
  std::string options;
  if (size_t comma = rest.find(','); comma != std::string::npos) options = rest.substr(comma + 1), rest.resize(comma);
  std::string cap = rest;
  if (size_t at = rest.find('@'); at != std::string::npos) {
    cap = rest.substr(0, at);
    double v = 0;
    std::string unit;
    if (!split_number(rest.substr(at + 1), &v, &unit) || (unit != "v" && !unit.empty()) || !(v > 0) || v > 1000)
      return error(ErrorCode::invalid_argument, "--battery '" + text + "': voltage '" + rest.substr(at + 1) + "' is not like 3.7V");
    spec.volts = v;
  }
  NM_ASSIGN_OR_RETURN(spec.capacity_j, parse_battery_capacity(cap, spec.volts));
  while (!options.empty()) {
    std::string opt = options;
    if (size_t comma = options.find(','); comma != std::string::npos) opt = options.substr(0, comma), options = options.substr(comma + 1);
    else options.clear();
    opt = trim(opt);
    if (opt.rfind("start=", 0) == 0) {
      NM_ASSIGN_OR_RETURN(spec.start_level, parse_level(opt.substr(6)));
    } else {
      return error(ErrorCode::invalid_argument, "--battery '" + text + "': unknown option '" + opt + "' (start=LEVEL)");
    }
  }
  return spec;
}

SimulatedBattery::SimulatedBattery(double capacity_j, double volts, double start_level)
    : capacity_j_(capacity_j), volts_(volts), remaining_j_(capacity_j * std::clamp(start_level, 0.0, 1.0)) {}

Result<BatteryState> SimulatedBattery::read() {
  BatteryState st;
  st.level = capacity_j_ > 0 ? remaining_j_ / capacity_j_ : 0.0;
  st.status = BatteryStatus::discharging;
  st.energy_now_j = remaining_j_;
  st.energy_full_j = capacity_j_;
  st.source = describe();
  return st;
}

void SimulatedBattery::consume(double joules) {
  if (joules > 0 && std::isfinite(joules)) remaining_j_ = std::max(0.0, remaining_j_ - joules);
}

std::string SimulatedBattery::describe() const {
  char buf[96];
  std::snprintf(buf, sizeof buf, "simulated battery %.0f mAh @ %.2g V (%.1f Wh)", capacity_j_ / (3.6 * volts_), volts_,
                capacity_j_ / 3600.0);
  return buf;
}

std::string SysfsBattery::describe() const { return "battery " + dir_ + " (fuel gauge)"; }

Result<std::unique_ptr<BatterySource>> open_battery(const BatterySpec& spec, const std::string& sysfs_root_override) {
  switch (spec.kind) {
    case BatterySpec::Kind::none: return std::unique_ptr<BatterySource>();
    case BatterySpec::Kind::sim:
      return std::unique_ptr<BatterySource>(new SimulatedBattery(spec.capacity_j, spec.volts, spec.start_level));
    case BatterySpec::Kind::sysfs: break;
  }
  const std::string root = sysfs_root(sysfs_root_override);
  std::string dir;
  if (spec.sysfs_name.empty()) {
    const std::vector<std::string> found = find_batteries(root);
    if (found.empty())
      return error(ErrorCode::unsupported, "--battery sysfs: this machine has no battery (" +
                                               sysfs_path(root, "sys/class/power_supply") + "); try --battery sim:2000mAh@3.7V");
    dir = found.front();
  } else {
    dir = sysfs_path(root, "sys/class/power_supply/" + spec.sysfs_name);
  }
  NM_RETURN_IF_ERROR(read_battery_state(dir).status());
  return std::unique_ptr<BatterySource>(new SysfsBattery(dir));
}

}  // namespace nm::energy
