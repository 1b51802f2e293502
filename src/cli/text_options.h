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
  int image_width = 0, image_height = 0;  // static-shape vision input (--image-size), 0 = off
  bool verbose = false;
  bool no_repack = false;  // --no-repack: file weight layout, no packed CPU copies
  std::string devices;  // --device: brick placement (runtime/device_placement.h); "" = automatic
  std::string objective = "latency";  // --objective: what the automatic placement minimises
  bool automatic_placement = true;    // false: "" means the default CPU placement (bench's ablation)
  std::string residency = "keep";  // --residency keep|on-demand
  std::string trace_path;          // --trace FILE.json: Chrome trace events of the bricks' runs
  std::string power_profile;  // --power-profile: the energy estimate's device profile ("" = this machine's)
  bool parse_special = false;  // --parse-special: special-token text in the prompt is parsed
  bool ignore_eos = false;     // chat --ignore-eos: replies run to -n tokens
  bool demo = false;  // set by resolve_default_model: the default (bundled) model is in use
  std::string demo_models_dir;  // ... and the bundled models/ folder it came from (samples live there)
};

void add_model_options(CLI::App& cmd, TextOptions& o);
void add_sampling_options(CLI::App& cmd, TextOptions& o);
// --device NAME | text=NAME,vision=NAME, --residency and --trace (run, chat, bench).
void add_device_option(CLI::App& cmd, TextOptions& o);
// Without -m, points model_path (and mmproj_path, unless given) at the bundled demo
// model; false with a message when it cannot be found.
bool resolve_default_model(TextOptions& o);
// Loads the model (the demo model when none is given); on failure prints the error and
// returns nullptr. Without --device, first places the bricks from the planner
// (runtime/plan/auto_placement.h) into o.devices, saying so once when this machine has no
// calibration (and always with -v).
nm_model* load_model_or_report(TextOptions& o);
// Loads a Whisper model (file or directory) with the options' threads and devices (their
// audio=NAME,asr=NAME items place its bricks). On failure prints the error, returns nullptr.
nm_asr* load_asr_or_report(const std::string& path, const TextOptions& o);
// The session parameters the options ask for (pointing into o, which must outlive them).
nm_session_params session_params_from(const TextOptions& o);
// On failure prints the error and returns nullptr.
nm_session* open_session_or_report(nm_model* model, const TextOptions& o);
void print_timings(const nm_session* session);

// Writes the session's trace to --trace's file when it goes out of scope (declare it after
// the session it traces); the error, if any, is printed.
class TraceWriter {
 public:
  TraceWriter(nm_session* session, const TextOptions& o) : session_(session), path_(o.trace_path) {}
  ~TraceWriter();
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;

 private:
  nm_session* session_;
  std::string path_;
};

}  // namespace nm::cli
