// `nanomind serve`: the OpenAI-compatible HTTP server (src/server/) with llama-server's
// flag names where they exist. Loads the model (and the --asr Whisper model) before
// listening, so a bad model file exits non-zero with the reason and never opens the port.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/option_checks.h"
#include "cli/text_options.h"
#include "core/file_read.h"
#include "core/image.h"
#include "server/http_server.h"
#include "tokenizer/chat_template.h"

namespace nm::cli {
namespace {

struct ServeOptions {
  TextOptions text;
  server::ServerOptions server;
  std::string api_key_file;
  std::string asr_path;  // --asr: Whisper model for input_audio parts
};

std::string file_basename(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

int serve(ServeOptions o) {
  if (!o.api_key_file.empty()) {
    // A regular file of at most 64 KiB: a FIFO or /dev/zero is refused instead of blocking
    // or reading a "first line" without end.
    auto bytes = read_regular_file(o.api_key_file, 64 << 10, "the API key file '" + o.api_key_file + "'");
    if (!bytes.ok()) {
      std::fprintf(stderr, "error: %s\n", bytes.status().message().c_str());
      return 1;
    }
    const std::string text(bytes->begin(), bytes->end());
    o.server.api_key = text.substr(0, text.find_first_of("\r\n"));
    if (o.server.api_key.empty()) {
      std::fprintf(stderr, "error: cannot read an API key from the first line of '%s'\n", o.api_key_file.c_str());
      return 1;
    }
  }
  std::unique_ptr<nm_asr, decltype(&nm_asr_free)> asr(nullptr, nm_asr_free);
  if (!o.asr_path.empty()) {
    // Loaded first, so that --device is the user's own (the model's loading may fill it in
    // with a placement for the text and vision bricks). The recogniser starts its thread
    // pool now: those threads must inherit SIGINT/SIGTERM blocked, as every thread but the
    // server's signal waiter must (else a SIGTERM landing on one of them kills the process
    // instead of stopping it gracefully).
    sigset_t stop_signals, before;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, &before);
    asr.reset(load_asr_or_report(o.asr_path, o.text));
    pthread_sigmask(SIG_SETMASK, &before, nullptr);
    if (!asr) return 1;
    std::fprintf(stderr, "nanomind serve: speech recogniser %s\n", nm_asr_describe(asr.get()));
  }
  std::unique_ptr<nm_model, decltype(&nm_model_free)> model(load_model_or_report(o.text), nm_model_free);
  if (!model) return 1;
  if (o.server.model_name.empty()) o.server.model_name = file_basename(o.text.model_path);
  o.server.session = session_params_from(o.text);
  return server::run_server(model.get(), o.server, asr.get());
}

}  // namespace

void register_serve(CLI::App& app) {
  auto opts = std::make_shared<ServeOptions>();
  auto* cmd = app.add_subcommand(
      "serve", "OpenAI-compatible HTTP server (/v1/chat/completions, /v1/completions, /v1/models, /health, /metrics) "
               "with a chat page at /");
  add_model_options(*cmd, opts->text);
  add_device_option(*cmd, opts->text);
  cmd->add_option("--template", opts->text.chat_template,
                  "Chat template: " + std::string(ChatTemplate::known_names()) + " (default: recognised from the model file)");
  server::ServerOptions& s = opts->server;
  server::RequestLimits& l = s.limits;
  cmd->add_option("--host", s.host, "Address to listen on (default 127.0.0.1: this machine only)");
  cmd->add_option("--port", s.port, "Port (0: any free port, printed at start)")->check(int_in(0, 65535, "0 (any free port) to 65535"))
      ->capture_default_str();
  cmd->add_option("--parallel", s.n_parallel, "Slots: answers generated at once, each with its own KV cache")
      ->check(int_in(1, 64, "1 to 64 slots"))
      ->capture_default_str();
  cmd->add_flag("--no-batch{false}", s.batch,
               "Decode each slot in its own forward pass instead of all busy slots in one (for comparisons)");
  cmd->add_option("--queue", s.max_queue, "Requests that may wait for a slot; more get 503 with Retry-After")
      ->check(int_in(0, 4096, "0 to 4096 requests"))
      ->capture_default_str();
  auto* key = cmd->add_option("--api-key", s.api_key, "API key clients must send (Authorization: Bearer KEY; default: none, every client is answered)");
  cmd->add_option("--api-key-file", opts->api_key_file, "Read the API key from the first line of this file (default: none)")
      ->check(CLI::ExistingFile)
      ->excludes(key);
  cmd->add_option("-a,--alias", s.model_name, "Model name in /v1/models and answers (default: the file name)");
  cmd->add_option("--allow-local-files", l.allow_local_files,
                  "Folder whose images requests may name as file:// URLs (default: none; data: URIs only)")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--max-body", l.max_body_bytes, "Largest request body in bytes")->check(int_in(1024, 1 << 30, "1024 to 1073741824 bytes"))
      ->capture_default_str();
  cmd->add_option("--max-tokens", l.max_tokens, "Largest max_tokens a request may ask for")
      ->check(int_in(1, NM_MAX_CTX, "1 to " + std::to_string(NM_MAX_CTX) + " tokens"))
      ->capture_default_str();
  cmd->add_option("-n,--n-predict", l.default_max_tokens, "max_tokens of a request that names none")
      ->check(int_in(1, NM_MAX_CTX, "1 to " + std::to_string(NM_MAX_CTX) + " tokens"))
      ->capture_default_str();
  cmd->add_option("--max-prompt-tokens", s.max_prompt_tokens, "Most prompt tokens per request (0: the context decides)")
      ->check(int_in(0, NM_MAX_CTX, "0 (the context decides) to " + std::to_string(NM_MAX_CTX) + " tokens"))
      ->capture_default_str();
  cmd->add_option("--max-images", l.max_images, "Most images per request")->check(int_in(0, 1024, "0 to 1024 images"))
      ->capture_default_str();
  cmd->add_option("--asr", opts->asr_path,
                  "Whisper model (ggml-*.bin file or faster-whisper directory) that transcribes the input_audio parts "
                  "of chat requests (default: none; audio is refused)");
  cmd->add_option("--max-audios", l.max_audios, "Most input_audio parts per request (with --asr)")
      ->check(int_in(1, 64, "1 to 64 audio parts"))
      ->capture_default_str();
  cmd->add_option("--max-audio-seconds", l.max_audio_seconds, "Longest audio part in seconds (with --asr)")
      ->check(real_in(0, 3600, true, "above 0, at most 3600 seconds"))
      ->capture_default_str();
  cmd->add_option("--max-image-pixels", l.max_image_pixels, "Most pixels (width x height) per image")
      ->check(int_in(1, kMaxImagePixels, "1 to " + std::to_string(kMaxImagePixels) + " pixels (what images may have)"))
      ->capture_default_str();
  cmd->add_option("--timeout", s.max_request_seconds,
                  "Seconds a request may take from arrival to its last token (then it ends with finish_reason "
                  "\"length\")")
      ->check(real_in(0, 31 * 86400, true, "above 0, at most 2678400 seconds (31 days)"))
      ->capture_default_str();
  cmd->add_option("--read-timeout", s.read_timeout_seconds,
                  "Seconds a client may stay silent in the middle of sending a request before it is dropped")
      ->check(int_in(1, 3600, "1 to 3600 seconds"))
      ->capture_default_str();
  cmd->add_option("--shutdown-grace", s.shutdown_grace_seconds,
                  "On SIGINT/SIGTERM, seconds answers in flight may take before they are cut")
      ->check(real_in(0, 3600, false, "0 to 3600 seconds"))
      ->capture_default_str();
  cmd->callback([opts] { throw CLI::RuntimeError(serve(*opts)); });
}

}  // namespace nm::cli
