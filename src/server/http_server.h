// The HTTP side of `nanomind serve`: cpp-httplib routes for the OpenAI-compatible API
// (/v1/chat/completions, /v1/completions, /v1/models), /health, /metrics and the chat page
// at /, with the API key (compared in constant time), header and body limits, streaming
// as server-sent events, and a graceful stop. Requests go to the Scheduler as Jobs, after
// their audio parts (if any) are transcribed (server/speech.h).
#pragma once

#include <string>

#include "nanomind/nanomind.h"
#include "server/request.h"

namespace nm::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string api_key;     // empty: no key needed
  std::string model_name;  // reported by /v1/models and in answers
  int n_parallel = 1;
  int max_queue = 64;
  bool batch = true;  // decode all busy slots in one forward pass
  int max_prompt_tokens = 0;         // 0: the context size decides
  double max_request_seconds = 300;  // from arrival to the last token
  double shutdown_grace_seconds = 10;
  int max_headers = 100;
  int read_timeout_seconds = 10;     // a client silent this long mid-request is dropped
  RequestLimits limits;
  nm_session_params session{};
};

// Serves until SIGINT or SIGTERM, then drains (see Scheduler::drain) and returns 0; returns
// non-zero, with the reason on stderr, when the slots cannot be opened or the port bound.
// asr (may be null: input_audio parts are refused) transcribes the requests' audio.
int run_server(nm_model* model, const ServerOptions& options, nm_asr* asr = nullptr);

// True when a and b are equal, in time that depends only on their lengths.
bool constant_time_equal(const std::string& a, const std::string& b);

}  // namespace nm::server
