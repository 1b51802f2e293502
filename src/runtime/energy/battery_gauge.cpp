// Battery fuel gauge through power_supply (see battery_gauge.h).
#include "runtime/energy/battery_gauge.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "runtime/energy/sysfs_reader.h"

namespace nm::energy {

namespace {

BatteryStatus parse_status(const std::string& s) {
  if (s == "Charging") return BatteryStatus::charging;
  if (s == "Discharging") return BatteryStatus::discharging;
  if (s == "Not charging") return BatteryStatus::not_charging;
  if (s == "Full") return BatteryStatus::full;
  return BatteryStatus::unknown;
}

std::string base_name(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  const size_t slash = dir.find_last_of('/');
  return slash == std::string::npos ? dir : dir.substr(slash + 1);
}

// A sysfs value that must not be negative.
Result<int64_t> read_nonnegative(const std::string& path) {
  NM_ASSIGN_OR_RETURN(int64_t v, read_sysfs_int(path));
  if (v < 0) return error(ErrorCode::invalid_file, path + ": negative value " + std::to_string(v) + " refused");
  return v;
}

}  // namespace

const char* battery_status_name(BatteryStatus status) {
  switch (status) {
    case BatteryStatus::charging: return "charging";
    case BatteryStatus::discharging: return "discharging";
    case BatteryStatus::not_charging: return "not charging";
    case BatteryStatus::full: return "full";
    case BatteryStatus::unknown: break;
  }
  return "unknown";
}

std::vector<std::string> find_batteries(const std::string& root) {
  std::vector<std::string> out;
  const std::string base = sysfs_path(root, "sys/class/power_supply");
  for (const std::string& e : list_sysfs_dir(base)) {
    const std::string dir = base + "/" + e;
    Result<std::string> type = read_sysfs_text(dir + "/type");
    if (!type.ok() || *type != "Battery") continue;
    Result<std::string> scope = read_sysfs_text(dir + "/scope");
    if (scope.ok() && *scope == "Device") continue;  // a mouse's or headset's battery
    Result<int64_t> present = read_sysfs_int(dir + "/present");
    if (present.ok() && *present == 0) continue;
    out.push_back(dir);
  }
  return out;
}

Result<BatteryState> read_battery_state(const std::string& dir) {
  BatteryState st;
  const std::string name = base_name(dir);
  Result<std::string> status = read_sysfs_text(dir + "/status");
  if (status.ok()) st.status = parse_status(*status);

  Result<int64_t> e_now = read_nonnegative(dir + "/energy_now");
  Result<int64_t> e_full = read_nonnegative(dir + "/energy_full");
  if (e_now.ok()) st.energy_now_j = static_cast<double>(*e_now) * 3.6e-3;  // uWh -> J
  if (e_full.ok() && *e_full > 0) st.energy_full_j = static_cast<double>(*e_full) * 3.6e-3;

  Result<int64_t> cap = read_sysfs_int(dir + "/capacity");
  if (cap.ok()) {
    if (*cap < 0 || *cap > 100)
      return error(ErrorCode::invalid_file, dir + "/capacity: " + std::to_string(*cap) + "% is not a percentage");
    st.level = static_cast<double>(*cap) / 100.0;
    st.source = name + " (capacity)";
    return st;
  }
  if (e_now.ok() && e_full.ok() && *e_full > 0) {
    st.level = std::min(1.0, static_cast<double>(*e_now) / static_cast<double>(*e_full));
    st.source = name + " (energy_now / energy_full)";
    return st;
  }
  Result<int64_t> c_now = read_nonnegative(dir + "/charge_now");
  Result<int64_t> c_full = read_nonnegative(dir + "/charge_full");
  if (c_now.ok() && c_full.ok() && *c_full > 0) {
    st.level = std::min(1.0, static_cast<double>(*c_now) / static_cast<double>(*c_full));
    st.source = name + " (charge_now / charge_full)";
    return st;
  }
  // Say what was wrong with the most informative file.
  if (!cap.status().ok() && cap.status().code() != ErrorCode::io_error) return cap.status();
  return error(ErrorCode::unsupported, dir + ": the gauge reports no level (no capacity, energy_now/energy_full or "
                                             "charge_now/charge_full)");
}

BatteryGaugeMeter::BatteryGaugeMeter(std::string name, std::string description, std::string dir, Reading reading)
    : EnergyMeter(std::move(name), std::move(description), EnergySourceKind::gauge), dir_(std::move(dir)), reading_(reading) {
  set_rank(kRankBattery);
}

Result<std::unique_ptr<BatteryGaugeMeter>> BatteryGaugeMeter::open(const std::string& dir) {
  const std::string name = base_name(dir);
  auto ok = [&](const char* f) { return read_sysfs_int(dir + "/" + f).ok(); };
  Reading reading;
  const char* how;
  if (ok("power_now")) reading = Reading::power_now, how = "power_now";
  else if (ok("voltage_now") && ok("current_now")) reading = Reading::volt_amp, how = "voltage_now x current_now";
  else if (ok("energy_now")) reading = Reading::energy_now, how = "fall of energy_now";
  else if (ok("charge_now") && ok("voltage_now")) reading = Reading::charge_now, how = "fall of charge_now x voltage_now";
  else return error(ErrorCode::unsupported, dir + ": the gauge reports neither power, current nor stored energy");
  return std::unique_ptr<BatteryGaugeMeter>(
      new BatteryGaugeMeter("battery:" + name, "battery " + name + " fuel gauge (" + how + ")", dir, reading));
}

Result<double> BatteryGaugeMeter::read_stored_joules() const {
  if (reading_ == Reading::energy_now) {
    NM_ASSIGN_OR_RETURN(int64_t uwh, read_nonnegative(dir_ + "/energy_now"));
    return static_cast<double>(uwh) * 3.6e-3;
  }
  NM_ASSIGN_OR_RETURN(int64_t uah, read_nonnegative(dir_ + "/charge_now"));
  NM_ASSIGN_OR_RETURN(int64_t uv, read_nonnegative(dir_ + "/voltage_now"));
  return static_cast<double>(uah) * 3.6e-3 * static_cast<double>(uv) * 1e-6;  // uAh x V -> J
}

Result<std::optional<double>> BatteryGaugeMeter::read_joules(double /*now_s*/, double dt_s) {
  Result<std::string> status = read_sysfs_text(dir_ + "/status");
  if (!status.ok()) return status.status();
  const BatteryStatus st = parse_status(*status);
  if (st == BatteryStatus::charging || st == BatteryStatus::full || st == BatteryStatus::not_charging)
    return error(ErrorCode::unsupported, "battery " + base_name(dir_) + " is " + battery_status_name(st) +
                                             ": on external power it does not see the load");

  if (reading_ == Reading::power_now || reading_ == Reading::volt_amp) {
    double w;
    if (reading_ == Reading::power_now) {
      NM_ASSIGN_OR_RETURN(int64_t uw, read_sysfs_int(dir_ + "/power_now"));
      w = std::abs(static_cast<double>(uw)) * 1e-6;  // drivers disagree on the sign while discharging
    } else {
      NM_ASSIGN_OR_RETURN(int64_t uv, read_nonnegative(dir_ + "/voltage_now"));
      NM_ASSIGN_OR_RETURN(int64_t ua, read_sysfs_int(dir_ + "/current_now"));
      w = static_cast<double>(uv) * 1e-6 * std::abs(static_cast<double>(ua)) * 1e-6;
    }
    NM_RETURN_IF_ERROR(check_plausible_watts(w, "battery " + base_name(dir_)));
    return integrator_.update(w, dt_s);
  }
  NM_ASSIGN_OR_RETURN(double stored, read_stored_joules());
  const double prev = last_stored_j_;
  last_stored_j_ = stored;
  if (std::isnan(prev)) return std::optional<double>();
  if (stored > prev)
    return error(ErrorCode::invalid_file, "battery " + base_name(dir_) +
                                              ": stored energy rose while discharging (gauge recalibrated?); starting again");
  const double j = prev - stored;
  if (dt_s > 0) NM_RETURN_IF_ERROR(check_plausible_watts(j / dt_s, "battery " + base_name(dir_)));
  return std::optional<double>(j);
}

void BatteryGaugeMeter::reset_baseline() {
  integrator_.reset();
  last_stored_j_ = NAN;
}

}  // namespace nm::energy
