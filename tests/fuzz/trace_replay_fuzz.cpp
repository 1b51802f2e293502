// libFuzzer target: arbitrary bytes through the power-trace reader of `nanomind battery
// --replay`. Any input must give a recorded run with finite, non-negative figures or a
// clear Status, never a crash, a hang or unbounded memory.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "runtime/energy/trace_replay.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  nm::Result<nm::energy::ReplayedRun> r = nm::energy::parse_power_trace(text, "fuzz input");
  if (!r.ok()) return 0;
  for (const nm::energy::ReplayedMode& m : r->modes) {
    if (m.answers < 0 || !std::isfinite(m.joules) || m.joules < 0 || !std::isfinite(m.seconds) || m.seconds < 0)
      __builtin_trap();  // what the reader accepts must be usable as it is
  }
  return 0;
}
