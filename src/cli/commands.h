// Each CLI subcommand lives in its own cmd_*.cpp and registers itself on the app here.
// The CLI uses only the public API and the library's user-facing entry points.
#pragma once

#include <CLI/CLI.hpp>

namespace nm::cli {

void register_info(CLI::App& app);
void register_run(CLI::App& app);
void register_chat(CLI::App& app);
void register_bench(CLI::App& app);
void register_inspect(CLI::App& app);
void register_devices(CLI::App& app);
void register_battery(CLI::App& app);
#ifdef NM_HAVE_SERVER
void register_serve(CLI::App& app);  // built where cpp-httplib is (not in cross builds)
#endif
void register_speak(CLI::App& app);
void register_transcribe(CLI::App& app);

}  // namespace nm::cli
