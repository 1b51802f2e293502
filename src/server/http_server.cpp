#include "server/http_server.h"

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>

#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "server/chat_page.h"  // generated from chat_page.html: kChatPage
#include "server/openai_format.h"
#include "server/scheduler.h"
#include "server/speech.h"

namespace nm::server {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.http_status == 499 ? 400 : e.http_status;
  res.set_content(e.to_json(), "application/json");
}

// cpp-httplib listens with a backlog of 5 (CPPHTTPLIB_LISTEN_BACKLOG, fixed when Debian
// built the library): 32 clients connecting at once overflowed it and some saw
// "connection reset". listen() again on the bound socket raises the backlog.
class ServerWithBacklog : public httplib::Server {
 public:
  void raise_backlog() {
    if (svr_sock_ != INVALID_SOCKET) ::listen(svr_sock_, SOMAXCONN);
  }
};

// The endpoint label for metrics: known paths, or "other" (so hostile paths add no series).
std::string endpoint_label(const std::string& path) {
  for (const char* p : {"/", "/health", "/metrics", "/v1/models", "/v1/chat/completions", "/v1/completions"})
    if (path == p) return path;
  return "other";
}

ApiError status_error(int status) {
  switch (status) {
    case 404: return {404, "no such endpoint", "invalid_request_error", {}, "not_found"};
    case 405: return {405, "method not allowed", "invalid_request_error", {}, {}};
    case 413: return {413, "the request body is too large", "invalid_request_error", {}, "request_too_large"};
    case 414: return {414, "the request URI is too long", "invalid_request_error", {}, {}};
    case 431: return {431, "too many or too large request headers", "invalid_request_error", {}, {}};
    default:
      if (status >= 500) return {status, "internal server error", "server_error", {}, {}};
      return {status, "bad request", "invalid_request_error", {}, {}};
  }
}

// Prompt tokens of a request's text (images and the chat template's tokens not counted).
int64_t text_tokens(const nm_model* model, const InferenceRequest& r) {
  auto count = [&](const std::string& s) -> int64_t {
    const int32_t n = nm_tokenize(model, s.c_str(), 0, 0, nullptr, 0);
    if (n == NM_BAD_ARGUMENT) return 0;  // untokenizable text: the engine reports it
    return n < 0 ? -(int64_t)n : n;
  };
  if (r.kind == RequestKind::completion) return count(r.prompt);
  int64_t n = 0;
  for (const MessageIn& m : r.messages) n += count(m.text);
  return n;
}

class Service {
 public:
  Service(nm_model* model, const ServerOptions& o, Scheduler& sched, Metrics& metrics, SpeechRecogniser* speech)
      : model_(model), o_(o), sched_(sched), metrics_(metrics), speech_(speech),
        created_(std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count()) {}

  void install(httplib::Server& svr) {
    svr.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      return pre_route(req, res);
    });
    svr.set_error_handler([](const httplib::Request&, httplib::Response& res) {
      if (res.body.empty()) res.set_content(status_error(res.status).to_json(), "application/json");
    });
    svr.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
      send_error(res, {500, "internal server error", "server_error", {}, {}});
    });
    svr.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
      metrics_.count_request(endpoint_label(req.path), res.status);
    });
    svr.Get("/", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(kChatPage, "text/html; charset=utf-8");
    });
    svr.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
      const SchedulerGauges g = sched_.gauges();
      res.set_content(json{{"status", "ok"}, {"slots_busy", g.slots_busy}, {"slots_total", g.slots_total},
                           {"queue_depth", g.queue_depth}}.dump(),
                      "application/json");
    });
    svr.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics_.render(sched_.gauges()), "text/plain; version=0.0.4");
    });
    svr.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) { models(res); });
    svr.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
      inference(req, res, RequestKind::chat);
    });
    svr.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
      inference(req, res, RequestKind::completion);
    });
  }

 private:
  httplib::Server::HandlerResponse pre_route(const httplib::Request& req, httplib::Response& res) {
    if ((int)req.headers.size() > o_.max_headers) {
      send_error(res, status_error(431));
      res.set_header("Connection", "close");
      return httplib::Server::HandlerResponse::Handled;
    }
    const bool protected_path = req.path.rfind("/v1/", 0) == 0 || req.path == "/metrics";
    if (!o_.api_key.empty() && protected_path) {
      std::string given = req.get_header_value("Authorization");
      if (given.rfind("Bearer ", 0) == 0) given.erase(0, 7);
      if (!constant_time_equal(given, o_.api_key)) {
        send_error(res, {401, "invalid or missing API key (Authorization: Bearer KEY)", "invalid_request_error", {},
                         "invalid_api_key"});
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  }

  void models(httplib::Response& res) {
    nm_model_info info;
    nm_model_get_info(model_, &info);
    json m = {{"id", o_.model_name}, {"object", "model"}, {"created", created_}, {"owned_by", "nanomind"}};
    m["meta"] = {{"arch", info.arch},          {"n_params", info.n_params}, {"n_ctx_train", info.n_ctx_train},
                 {"n_vocab", info.n_vocab},    {"n_embd", info.n_embd},     {"weight_type", info.weight_type},
                 {"slots", o_.n_parallel}, {"asr", speech_ ? json(speech_->describe()) : json(nullptr)}};
    res.set_content(json{{"object", "list"}, {"data", json::array({m})}}.dump(), "application/json");
  }

  void inference(const httplib::Request& req, httplib::Response& res, RequestKind kind) {
    auto parsed = parse_request(req.body, kind, o_.limits);
    if (!parsed.ok()) return send_error(res, parsed.error());
    InferenceRequest& r = parsed.value();
    if (!r.audios.empty()) {  // parse_request refuses audio when there is no recogniser
      if (auto e = speech_->transcribe(r, o_.limits)) return send_error(res, *e);
    }
    if (o_.max_prompt_tokens > 0) {
      const int64_t n = text_tokens(model_, r);
      if (n > o_.max_prompt_tokens) {
        return send_error(res, {400,
                                "the prompt is " + std::to_string(n) + " tokens; this server takes at most " +
                                    std::to_string(o_.max_prompt_tokens),
                                "invalid_request_error", kind == RequestKind::chat ? "messages" : "prompt",
                                "context_length_exceeded"});
      }
    }
    const bool stream = r.stream, include_usage = r.include_usage;
    const auto deadline = Clock::now() + std::chrono::milliseconds((int64_t)(o_.max_request_seconds * 1000));
    auto job = std::make_shared<Job>(std::move(r), deadline);
    if (!sched_.submit(job)) {
      res.set_header("Retry-After", "1");
      return send_error(res, {503, "the server is busy (every slot and the queue are full) or shutting down; retry later",
                              "server_error", {}, "server_busy"});
    }
    // The status code depends on whether the prompt goes in (too long for the context,
    // an undecodable image): wait for that before answering.
    while (!job->wait_started(250ms)) {
    }
    if (auto e = job->error()) return send_error(res, *e);

    AnswerIds ids;
    ids.id = (kind == RequestKind::chat ? "chatcmpl-" : "cmpl-") + std::to_string(next_id_++);
    ids.created = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    ids.model = o_.model_name;
    if (stream) {
      res.set_header("Cache-Control", "no-cache");
      res.set_chunked_content_provider("text/event-stream", [job, ids, kind, include_usage](size_t, httplib::DataSink& sink) {
        return stream_answer(*job, ids, kind, include_usage, sink);
      });
    } else {
      res.set_chunked_content_provider("application/json", [job, ids, kind](size_t, httplib::DataSink& sink) {
        return whole_answer(*job, ids, kind, sink);
      });
    }
  }

  // A non-streamed answer. While it is generated, a space (JSON allows leading
  // whitespace) goes out every 50 ms: a write to a connection the client closed fails
  // (the second one after the peer's reset), so a client that left cancels its answer
  // within about 0.1 s.
  static bool whole_answer(Job& job, const AnswerIds& ids, RequestKind kind, httplib::DataSink& sink) {
    std::string text;
    auto last_beat = Clock::now();
    while (!job.done()) {
      text += job.take(50ms);
      if (Clock::now() - last_beat >= 50ms) {
        last_beat = Clock::now();
        if (!sink.write(" ", 1)) {
          job.cancel();
          return false;
        }
      }
    }
    text += job.take(0ms);
    std::string body;
    if (auto e = job.error()) {
      body = e->to_json();
    } else {
      body = answer_json(kind, ids, text, job.result()).dump(-1, ' ', false, json::error_handler_t::replace);
    }
    body += "\n";
    if (!sink.write(body.data(), body.size())) return false;
    sink.done();
    return true;
  }

  static bool stream_answer(Job& job, const AnswerIds& ids, RequestKind kind, bool include_usage,
                            httplib::DataSink& sink) {
    auto send = [&](const std::string& s) {
      if (sink.write(s.data(), s.size())) return true;
      job.cancel();
      return false;
    };
    if (kind == RequestKind::chat && !send(sse_event(chunk_json(kind, ids, "", "", true)))) return false;
    auto last_write = Clock::now();
    while (!job.done()) {
      const std::string piece = job.take(250ms);
      if (!piece.empty()) {
        if (!send(sse_event(chunk_json(kind, ids, piece, "", false)))) return false;
        last_write = Clock::now();
      } else if (Clock::now() - last_write >= 1s) {
        if (!send(": keep-alive\n\n")) return false;  // an SSE comment: finds a client that left
        last_write = Clock::now();
      }
    }
    if (auto e = job.error()) {
      if (!send("data: " + e->to_json() + "\n\n")) return false;
    } else {
      const JobResult r = job.result();
      json last = chunk_json(kind, ids, "", r.finish_reason, false);
      last["nanomind"] = bricks_json(r);
      if (!send(sse_event(last))) return false;
      if (include_usage && !send(sse_event(usage_chunk_json(kind, ids, r)))) return false;
    }
    if (!send("data: [DONE]\n\n")) return false;
    sink.done();
    return true;
  }

  nm_model* model_;
  const ServerOptions& o_;
  Scheduler& sched_;
  Metrics& metrics_;
  SpeechRecogniser* speech_;  // null without --asr
  const int64_t created_;
  std::atomic<uint64_t> next_id_{1};
};

}  // namespace

bool constant_time_equal(const std::string& a, const std::string& b) {
  // Every byte of the longer string is visited whatever the contents; the lengths enter
  // the result, not the control flow.
  const size_t n = std::max(a.size(), b.size());
  volatile unsigned char diff = (unsigned char)(a.size() != b.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? (unsigned char)a[i] : 0;
    const unsigned char y = i < b.size() ? (unsigned char)b[i] : 0;
    diff = diff | (unsigned char)(x ^ y);
  }
  return diff == 0;
}

int run_server(nm_model* model, const ServerOptions& options, nm_asr* asr) {
  // SIGINT/SIGTERM are taken by one thread (sigwait), so every other thread, including
  // httplib's workers created below, must block them; a client that left must not kill us.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  ServerOptions o = options;
  if (o.model_name.empty()) o.model_name = "nanomind";
  if (!asr) o.limits.max_audios = 0;
  std::unique_ptr<SpeechRecogniser> speech(asr ? new SpeechRecogniser(asr) : nullptr);
  Metrics metrics;
  SchedulerOptions so;
  so.n_parallel = o.n_parallel;
  so.max_queue = o.max_queue;
  so.batch = o.batch;
  so.session = o.session;
  std::string err;
  std::unique_ptr<Scheduler> sched = Scheduler::create(model, so, metrics, &err);
  if (!sched) {
    std::fprintf(stderr, "error: cannot open the server's sessions: %s\n", err.c_str());
    return 1;
  }
  ServerWithBacklog svr;
  // Every request holds a worker for its whole answer: enough workers for every slot,
  // every queued request and a few more for /health, /metrics and refusals.
  const size_t n_workers = (size_t)(o.n_parallel + o.max_queue + 8);
  svr.new_task_queue = [n_workers] { return new httplib::ThreadPool(n_workers); };
  svr.set_payload_max_length(o.limits.max_body_bytes);
  svr.set_read_timeout(o.read_timeout_seconds, 0);
  svr.set_write_timeout(o.read_timeout_seconds, 0);
  svr.set_keep_alive_timeout(5);
  // cpp-httplib 0.11 waits for a kept-alive connection's next request by polling it every
  // ~10 ms for up to the timeout: measured here at 0.3% of a core per idle connection,
  // 1.7% on a loaded machine. A server that gives its bricks back between requests is one
  // that should sleep between them: each connection closes after its response and the
  // server waits in accept(2).
  if (o.session.residency == NM_RESIDENCY_ON_DEMAND) svr.set_keep_alive_max_count(1);
  Service service(model, o, *sched, metrics, speech.get());
  service.install(svr);

  int port = o.port;
  if (port == 0) {
    port = svr.bind_to_any_port(o.host);
    if (port <= 0) port = -1;
  } else if (!svr.bind_to_port(o.host, port)) {
    port = -1;
  }
  if (port >= 0) svr.raise_backlog();
  if (port < 0) {
    std::fprintf(stderr, "error: cannot listen on %s:%d (in use, or not an address of this machine)\n", o.host.c_str(),
                 o.port);
    return 1;
  }
  std::atomic<bool> stopping{false};
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    stopping = true;
    std::fprintf(stderr, "nanomind serve: stopping (finishing answers in flight, at most %.0f s)\n",
                 o.shutdown_grace_seconds);
    sched->drain(Clock::now() + std::chrono::milliseconds((int64_t)(o.shutdown_grace_seconds * 1000)));
    svr.stop();
  });
  std::fprintf(stderr, "nanomind serve: listening on http://%s:%d (model %s, %d slots)\n", o.host.c_str(), port,
               o.model_name.c_str(), o.n_parallel);
  const bool listened = svr.listen_after_bind();
  if (!stopping) kill(getpid(), SIGTERM);  // wake the waiter (the signal is blocked everywhere else)
  waiter.join();
  if (!listened && !stopping) {
    std::fprintf(stderr, "error: the server stopped listening unexpectedly\n");
    return 1;
  }
  std::fprintf(stderr, "nanomind serve: stopped\n");
  return 0;
}

}  // namespace nm::server
