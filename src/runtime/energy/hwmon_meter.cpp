// hwmon power rails (see hwmon_meter.h).
#include "runtime/energy/hwmon_meter.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <set>

#include "runtime/energy/sysfs_reader.h"

namespace nm::energy {

namespace {

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// "power2_input" -> {"power", 2, "input"}; false for other names.
bool split_attribute(const std::string& name, std::string* type, int* index, std::string* item) {
  size_t i = 0;
  while (i < name.size() && std::islower(static_cast<unsigned char>(name[i]))) ++i;
  size_t j = i;
  while (j < name.size() && std::isdigit(static_cast<unsigned char>(name[j]))) ++j;
  if (i == 0 || j == i || j - i > 4 || j >= name.size() || name[j] != '_') return false;
  *type = name.substr(0, i);
  *index = std::stoi(name.substr(i, j - i));
  *item = name.substr(j + 1);
  return true;
}

bool is_power_monitor_chip(const std::string& chip) {
  const std::string c = upper(chip);
  return c.rfind("INA", 0) == 0 || c.rfind("LTC29", 0) == 0 || c.rfind("ADM12", 0) == 0 || c.rfind("PAC19", 0) == 0;
}

}  // namespace

bool is_input_rail_label(const std::string& label) {
  const std::string l = upper(label);
  static const char* const kExact[] = {"VIN", "VSYS", "SYS", "TOTAL", "INPUT", "BOARD", "SYSTEM", "VBUS", "IN"};
  for (const char* e : kExact)
    if (l == e) return true;
  if (l.size() > 3 && l.compare(l.size() - 3, 3, "_IN") == 0) return true;  // VDD_IN, POM_5V_IN
  return l.rfind("VIN_", 0) == 0 || l.rfind("VDD_IN", 0) == 0;
}

HwmonMeter::HwmonMeter(std::string name, std::string description, Reading reading, std::string path_a, std::string path_b)
    : EnergyMeter(std::move(name), std::move(description),
                  reading == Reading::energy ? EnergySourceKind::counter : EnergySourceKind::power),
      reading_(reading), path_a_(std::move(path_a)), path_b_(std::move(path_b)) {}

std::vector<std::unique_ptr<HwmonMeter>> HwmonMeter::discover(const std::string& root, std::vector<std::string>* notes) {
  std::vector<std::unique_ptr<HwmonMeter>> meters;
  const std::string base = sysfs_path(root, "sys/class/hwmon");
  for (const std::string& hw : list_sysfs_dir(base)) {
    // Attributes sit in hwmonN/ (current kernels) or hwmonN/device/ (older drivers).
    std::string dir = base + "/" + hw;
    Result<std::string> chip = read_sysfs_text(dir + "/name");
    if (!chip.ok()) {
      chip = read_sysfs_text(dir + "/device/name");
      if (chip.ok()) dir += "/device";
    }
    const std::string chip_name = chip.ok() && !chip->empty() ? *chip : hw;

    struct Rail {
      std::map<std::string, std::string> files;  // "energy_input" -> path, "in_label" -> path, ...
    };
    std::map<int, Rail> rails;
    for (const std::string& f : list_sysfs_dir(dir)) {
      std::string type, item;
      int index = 0;
      if (!split_attribute(f, &type, &index, &item)) continue;
      if (type != "energy" && type != "power" && type != "in" && type != "curr") continue;
      if (item != "input" && item != "average" && item != "label") continue;
      rails[index].files[type + "_" + item] = dir + "/" + f;
    }
    const bool ina3221 = upper(chip_name) == "INA3221";
    const bool monitor = is_power_monitor_chip(chip_name);
    bool first_rail = true;
    for (auto& entry : rails) {  // not a structured binding: clang 14 cannot capture those in lambdas
      const int index = entry.first;
      const Rail& rail = entry.second;
      auto has = [&](const char* key) { return rail.files.count(key) > 0; };
      auto path = [&](const char* key) { return rail.files.at(key); };
      auto label_of = [&](const char* type) -> std::string {
        const std::string key = std::string(type) + "_label";
        if (!has(key.c_str())) return {};
        Result<std::string> t = read_sysfs_text(path(key.c_str()));
        return t.ok() ? *t : std::string();
      };
      Reading reading;
      std::string a, b, label;
      if (has("energy_input")) {
        reading = Reading::energy, a = path("energy_input"), label = label_of("energy");
      } else if (has("power_input") || has("power_average")) {
        reading = Reading::power, a = has("power_input") ? path("power_input") : path("power_average");
        label = label_of("power");
      } else if (has("in_input") && has("curr_input")) {
        // INA3221: in1..in3 are bus voltages; in4..in7 shunt voltages, curr4 a sum.
        if (ina3221 && index > 3) continue;
        const std::string in_label = label_of("in"), curr_label = label_of("curr");
        if (!in_label.empty() && !curr_label.empty() && in_label != curr_label) {
          if (notes) notes->push_back(chip_name + " in" + std::to_string(index) + "/curr" + std::to_string(index) +
                                      ": labels differ ('" + in_label + "', '" + curr_label + "'), not paired");
          continue;
        }
        reading = Reading::volt_amp, a = path("in_input"), b = path("curr_input");
        label = !in_label.empty() ? in_label : curr_label;
      } else {
        continue;
      }
      const std::string rail_name = label.empty() ? "rail" + std::to_string(index) : label;
      const char* how = reading == Reading::energy ? "energy counter"
                        : reading == Reading::power ? "power sensor" : "voltage x current";
      auto m = std::unique_ptr<HwmonMeter>(new HwmonMeter("hwmon:" + chip_name + ":" + rail_name,
                                                          chip_name + " " + rail_name + " (hwmon " + hw + ", " + how + ")",
                                                          reading, a, b));
      if (!label.empty() && is_input_rail_label(label)) m->set_rank(kRankBoardInput + (reading == Reading::energy ? 0 : 1));
      else if (monitor && first_rail) m->set_rank(kRankPowerMonitor);
      else m->set_rank(kRankOtherSensor);
      first_rail = false;
      meters.push_back(std::move(m));
    }
  }
  return meters;
}

Result<double> HwmonMeter::read_watts() const {
  if (reading_ == Reading::power) {
    NM_ASSIGN_OR_RETURN(int64_t uw, read_sysfs_int(path_a_));
    const double w = static_cast<double>(uw) * 1e-6;
    NM_RETURN_IF_ERROR(check_plausible_watts(w, path_a_));
    return w;
  }
  NM_ASSIGN_OR_RETURN(int64_t mv, read_sysfs_int(path_a_));
  NM_ASSIGN_OR_RETURN(int64_t ma, read_sysfs_int(path_b_));
  if (mv < 0) return error(ErrorCode::invalid_file, path_a_ + ": negative bus voltage " + std::to_string(mv) + " mV refused");
  if (ma < 0)
    return error(ErrorCode::invalid_file, path_b_ + ": negative current " + std::to_string(ma) + " mA (reverse flow) refused");
  const double w = static_cast<double>(mv) * static_cast<double>(ma) * 1e-6;
  NM_RETURN_IF_ERROR(check_plausible_watts(w, path_a_ + " x " + path_b_));
  return w;
}

Result<std::optional<double>> HwmonMeter::read_joules(double /*now_s*/, double dt_s) {
  if (reading_ == Reading::energy) {
    NM_ASSIGN_OR_RETURN(int64_t uj, read_sysfs_int(path_a_));
    NM_ASSIGN_OR_RETURN(std::optional<double> j, counter_.update(uj, path_a_));
    if (j && dt_s > 0) NM_RETURN_IF_ERROR(check_plausible_watts(*j / dt_s, path_a_));
    return j;
  }
  NM_ASSIGN_OR_RETURN(double w, read_watts());
  return integrator_.update(w, dt_s);
}

void HwmonMeter::reset_baseline() {
  counter_.reset();
  integrator_.reset();
}

}  // namespace nm::energy
