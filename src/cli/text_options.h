// Flags shared by the text subcommands (run, chat, bench): model file, threads, context,
// KV cache type, sampling. They map one to one onto the C API's parameter structs.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "nanomind/nanomind.h"

namespace nm::cli {

struct TextOptions {
  std::string model_path;
  std::string mmproj_path;
  int n_threads = 0;
  int n_ctx = 0;
  std::string kv_type = "f16";
  std::string chat_template;
  std::string system_prompt;
  nm_sampling_params sampling{};
  bool verbose = false;
};

void add_model_options(CLI::App& cmd, TextOptions& o);
void add_sampling_options(CLI::App& cmd, TextOptions& o);
// Loads the model; on failure prints the error and returns nullptr.
nm_model* load_model_or_report(const TextOptions& o);
// On failure prints the error and returns nullptr.
nm_session* open_session_or_report(nm_model* model, const TextOptions& o);
void print_timings(const nm_session* session);

}  // namespace nm::cli
