// libFuzzer target: arbitrary text through the small parsers of option values and sysfs
// files: --battery specs, battery capacities and levels, duty cycles, power modes,
// --device placements and sysfs integers (a fuel gauge or power rail may hold anything).
// The first byte picks the parser. Each must give a value or a clear Status; values that
// parse must be what their parser promises (finite, in range), never a crash or a hang.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "runtime/device_placement.h"
#include "runtime/energy/battery.h"
#include "runtime/energy/battery_life.h"
#include "runtime/energy/power_policy.h"
#include "runtime/energy/sysfs_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 7) {
    case 0: {
      auto s = nm::energy::parse_battery_spec(text);
      if (s.ok() && s->kind == nm::energy::BatterySpec::Kind::sim &&
          !(std::isfinite(s->capacity_j) && s->capacity_j > 0 && s->start_level >= 0 && s->start_level <= 1))
        __builtin_trap();
      break;
    }
    case 1: {
      auto j = nm::energy::parse_battery_capacity(text, 3.7);
      if (j.ok() && !(std::isfinite(*j) && *j > 0 && *j <= 10e6)) __builtin_trap();
      break;
    }
    case 2: {
      auto l = nm::energy::parse_level(text);
      if (l.ok() && !(*l >= 0 && *l <= 1)) __builtin_trap();
      break;
    }
    case 3: {
      auto d = nm::energy::parse_duty_cycle(text);
      if (d.ok() && !(std::isfinite(d->period_s) && d->period_s > 0)) __builtin_trap();
      break;
    }
    case 4:
      (void)nm::energy::parse_power_mode(text);
      break;
    case 5: {
      auto p = nm::parse_device_spec(text);
      if (p.ok()) (void)p->device_names();
      break;
    }
    default:
      (void)nm::energy::parse_sysfs_int(text, "fuzz input");
      break;
  }
  return 0;
}
