// Each CLI subcommand lives in its own cmd_*.cpp and registers itself on the app here.
// The CLI uses only the public API and the library's user-facing entry points.
#pragma once

#include <CLI/CLI.hpp>

namespace nm::cli {

void register_info(CLI::App& app);
void register_devices(CLI::App& app);

}  // namespace nm::cli
