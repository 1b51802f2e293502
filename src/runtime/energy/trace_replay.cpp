// A recorded run's energy per power mode, from its trace (see trace_replay.h).
#include "runtime/energy/trace_replay.h"

#include <cmath>
#include <vector>
#include <nlohmann/json.hpp>

#include "core/file_read.h"
#include "runtime/energy/power_policy.h"

namespace nm::energy {

namespace {

// A finite, non-negative number under `key` of `args`.
Result<double> figure(const nlohmann::json& args, const std::string& key, const std::string& what) {
  auto it = args.find(key);
  if (it == args.end() || !it->is_number())
    return error(ErrorCode::invalid_argument, what + ": the power summary has no number '" + key + "'");
  const double v = it->get<double>();
  if (!std::isfinite(v) || v < 0)
    return error(ErrorCode::invalid_argument, what + ": the power summary's '" + key + "' is not a finite, non-negative number");
  return v;
}

}  // namespace

Result<ReplayedRun> parse_power_trace(const std::string& text, const std::string& what) {
  const nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return error(ErrorCode::invalid_argument, what + ": not JSON (a Chrome trace from --trace)");
  const nlohmann::json* events = nullptr;
  if (doc.is_object() && doc.contains("traceEvents") && doc["traceEvents"].is_array()) events = &doc["traceEvents"];
  if (!events) return error(ErrorCode::invalid_argument, what + ": no traceEvents array (a Chrome trace from --trace)");
  const nlohmann::json* summary = nullptr;
  for (const nlohmann::json& e : *events) {
    if (e.is_object() && e.contains("name") && e["name"].is_string() && e["name"].get<std::string>() == kPowerSummarySlice &&
        e.contains("args") && e["args"].is_object())
      summary = &e["args"];  // the last one: a trace holds one per powered stream
  }
  if (!summary) {
    return error(ErrorCode::invalid_argument, what + ": no power summary (record it with nanomind run --camera DIR "
                                                     "--battery SPEC or --power-mode MODE --trace FILE.json)");
  }
  ReplayedRun run;
  for (int m = 0; m < 3; ++m) {
    const std::string name = power_mode_name(static_cast<PowerMode>(m));
    NM_ASSIGN_OR_RETURN(double answers, figure(*summary, name + " answers", what));
    NM_ASSIGN_OR_RETURN(run.modes[m].joules, figure(*summary, name + " joules", what));
    NM_ASSIGN_OR_RETURN(run.modes[m].seconds, figure(*summary, name + " seconds", what));
    if (answers != std::floor(answers) || answers > 1e9)
      return error(ErrorCode::invalid_argument, what + ": '" + name + " answers' is not a count");
    run.modes[m].answers = static_cast<int>(answers);
  }
  NM_ASSIGN_OR_RETURN(double measured, figure(*summary, "measured", what));
  NM_ASSIGN_OR_RETURN(double changes, figure(*summary, "mode changes", what));
  run.measured = measured != 0;
  run.mode_changes = changes > 1e9 ? 1000000000 : static_cast<int>(changes);
  return run;
}

Result<ReplayedRun> read_power_trace(const std::string& path) {
  // A long recorded run: a few hundred bytes per answer; 256 MiB is far beyond any.
  NM_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes,
                      read_regular_file(path, size_t{256} << 20, "trace '" + path + "'", "give the --trace JSON file"));
  return parse_power_trace(std::string(bytes.begin(), bytes.end()), path);
}

}  // namespace nm::energy
