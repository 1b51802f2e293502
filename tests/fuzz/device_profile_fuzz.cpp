// libFuzzer target: arbitrary bytes through the device-profile parser (and, when they
// parse, the writer and the parser again). Any input must give a profile or a clear
// Status, never a crash, a hang or unbounded memory.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "runtime/profile/device_profile.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  nm::Result<nm::DeviceProfile> p = nm::parse_device_profile(text, "fuzz input");
  if (!p.ok()) return 0;
  nm::Result<nm::DeviceProfile> again = nm::parse_device_profile(nm::device_profile_to_json(*p), "round trip");
  if (!again.ok()) __builtin_trap();  // what the writer writes must parse
  (void)p->power_model();
  (void)p->summary();
  return 0;
}
