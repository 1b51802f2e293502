// `nanomind chat`: interactive multi-turn conversation. The KV cache is kept between
// turns, so each turn only evaluates the new message. "/reset" forgets the conversation;
// end of input (Ctrl-D) or "/exit" leaves.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/text_options.h"

namespace nm::cli {
namespace {

struct ChatOptions {
  TextOptions text;
  int n_predict = 512;
};

int stream_piece(const char* piece, int32_t, void*) {
  std::fputs(piece, stdout);
  std::fflush(stdout);
  return 0;
}

int chat(ChatOptions o) {
  std::unique_ptr<nm_model, decltype(&nm_model_free)> model(load_model_or_report(o.text), nm_model_free);
  if (!model) return 1;
  std::unique_ptr<nm_session, decltype(&nm_session_free)> session(open_session_or_report(model.get(), o.text),
                                                                 nm_session_free);
  if (!session) return 1;
  std::fprintf(stderr, "chat: type a message and press Enter; /reset forgets, /exit or Ctrl-D leaves.\n");
  std::string line;
  for (;;) {
    std::fputs("\n> ", stdout);
    std::fflush(stdout);
    if (!std::getline(std::cin, line) || line == "/exit") break;
    if (line.empty()) continue;
    if (line == "/reset") {
      nm_session_reset(session.get());
      continue;
    }
    if (nm_session_chat(session.get(), line.c_str(), o.n_predict, stream_piece, nullptr) != NM_OK) {
      // A full context ends the conversation cleanly; the user can /reset.
      std::fprintf(stderr, "\nerror: %s\n", nm_session_last_error(session.get()));
      continue;
    }
    std::fputs("\n", stdout);
    if (o.text.verbose) print_timings(session.get());
  }
  return 0;
}

}  // namespace

void register_chat(CLI::App& app) {
  auto opts = std::make_shared<ChatOptions>();
  auto* cmd = app.add_subcommand("chat", "Interactive multi-turn chat (keeps the KV cache between turns)");
  add_model_options(*cmd, opts->text);
  add_sampling_options(*cmd, opts->text);
  cmd->add_option("-n,--n-predict", opts->n_predict, "Maximum tokens per reply")->check(CLI::PositiveNumber);
  cmd->callback([opts] { throw CLI::RuntimeError(chat(*opts)); });
}

}  // namespace nm::cli
