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

}  // namespace nm::cli
