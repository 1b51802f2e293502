// What a recorded run drew in each power mode, read back from its trace (`nanomind run
// --camera ... --battery/--power-mode ... --trace FILE.json`): the powered stream ends its
// trace with a "power summary" slice whose arguments are, per mode, the answers given, the
// joules drawn (everything the process drew while in that mode: encodes, skipped frames,
// loads and idle) and the seconds spent, and whether the joules were measured by a sensor
// or estimated. `nanomind battery --replay FILE.json` turns them into hours per mode.
// Thread-safety: plain functions.
#pragma once

#include <string>

#include "core/status.h"

namespace nm::energy {

struct ReplayedMode {
  int answers = 0;
  double joules = 0, seconds = 0;
};

struct ReplayedRun {
  ReplayedMode modes[3];  // parallel, throttled, on-demand (PowerMode's order)
  bool measured = false;  // the joules came from a power sensor (else estimated)
  int mode_changes = 0;
};

// The summary from a trace's JSON text; a clear error for anything else (not JSON, no
// summary, negative or non-finite figures). `what` names the input in messages.
Result<ReplayedRun> parse_power_trace(const std::string& json_text, const std::string& what);
// The same from a file.
Result<ReplayedRun> read_power_trace(const std::string& path);

// The slice's name and argument keys, shared with the writer (runtime/powered_stream.cpp).
inline constexpr const char* kPowerSummarySlice = "power summary";
// "<mode> answers", "<mode> joules", "<mode> seconds" for mode in parallel, throttled,
// on-demand; "measured" (0 or 1); "mode changes".

}  // namespace nm::energy
