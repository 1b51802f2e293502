// Range validators for numeric command-line options. Each refuses what the option cannot
// mean (NaN, infinities, out-of-range values, trailing junk) with a message that says the
// allowed range in words ("0 (greedy) or a finite positive number"), where CLI11's own
// Range/PositiveNumber print DBL_MAX. Used by every subcommand's numeric flags.
#pragma once

#include <cstdint>
#include <string>

#include <CLI/CLI.hpp>

namespace nm::cli {

// A finite real number in [lo, hi] (hi may be infinity); lo excluded when lo_open.
// `range` describes the allowed values for the message.
CLI::Validator real_in(double lo, double hi, bool lo_open, std::string range);

// An integer in [lo, hi].
CLI::Validator int_in(int64_t lo, int64_t hi, std::string range);

// A path a file can be written to later (e.g. a trace written when the run ends): its folder
// exists and is writable, and the path is not a folder. Checked up front so that a long run
// does not end with an error about its output.
CLI::Validator writable_file();

// The power policy's options as `run --camera` and `assist` take them.
struct PowerOptionTexts {
  std::string battery, mode;  // help of --battery and --power-mode
  std::string what_runs;      // what the thresholds decide: "the stream runs", "turns run"
};
// --battery SPEC, --power-mode (auto, parallel, throttled, on-demand), --t-high and --t-low
// (battery %).
void add_power_options(CLI::App& cmd, std::string& battery, std::string& mode, double& t_high, double& t_low,
                       const PowerOptionTexts& help);

}  // namespace nm::cli
