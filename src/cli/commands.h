// Each CLI subcommand lives in its own cmd_*.cpp and registers itself on the app here.
// The CLI uses only the public API and the library's user-facing entry points.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace nm::cli {

void register_info(CLI::App& app);
void register_run(CLI::App& app);
void register_chat(CLI::App& app);
void register_bench(CLI::App& app);
void register_inspect(CLI::App& app);
void register_devices(CLI::App& app);
void register_battery(CLI::App& app);
void register_plan(CLI::App& app);
#ifdef NM_HAVE_SERVER
void register_serve(CLI::App& app);  // built where cpp-httplib is (not in cross builds)
#endif
void register_calibrate(CLI::App& app);
void register_speak(CLI::App& app);
void register_transcribe(CLI::App& app);
void register_assist(CLI::App& app);

// whisper.cpp's multi-letter short flags (-otxt, -osrt, -oj, -of, -np, -nt, -tr, -bs, -bo,
// -nf, -et, -lpt, -nth, -vm) after `transcribe`, as the long names they stand for (CLI11's
// short names are one letter). Other arguments are returned unchanged.
std::vector<std::string> expand_whisper_cpp_flags(std::vector<std::string> args);

}  // namespace nm::cli
