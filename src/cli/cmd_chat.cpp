// `nanomind chat`: interactive multi-turn conversation. The KV cache is kept between
// turns, so each turn only evaluates the new message. Images given with --image go with
// the first message, "/image PATH" adds one to the next message; "/reset" forgets the
// conversation; end of input (Ctrl-D) or "/exit" leaves. On a terminal, lines are edited
// with libedit (cli/line_reader.h). Ctrl-C while a reply streams stops that reply and
// returns to the prompt with the conversation (and the reply so far) kept, as llama.cpp
// does; Ctrl-C at the prompt leaves (exit status 130).
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "cli/commands.h"
#include "cli/image_options.h"
#include "cli/line_reader.h"
#include "cli/option_checks.h"
#include "cli/sigint.h"
#include "cli/text_options.h"
#include "tokenizer/chat_template.h"

namespace nm::cli {
namespace {

struct ChatOptions {
  TextOptions text;
  ImageOptions images;
  int n_predict = 512;
};

constexpr int kExitInterrupted = 130;  // 128 + SIGINT, as shells report it

// Streams each piece; stops the reply when Ctrl-C was pressed.
int stream_piece(const char* piece, int32_t, void* sigint) {
  std::fputs(piece, stdout);
  std::fflush(stdout);
  return static_cast<SigintFlag*>(sigint)->raised() ? 1 : 0;
}

// Handles a "/image PATH" line: queues the file for the next message, or says why not.
void queue_image(const std::string& path, std::vector<std::string>& pending) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec)) {
    pending.push_back(path);
    std::fprintf(stderr, "image %s goes with your next message (%zu pending)\n", path.c_str(), pending.size());
  } else if (std::filesystem::exists(path, ec)) {
    std::fprintf(stderr, "error: %s is not a regular file (a device, FIFO or directory)\n", path.c_str());
  } else {
    std::fprintf(stderr, "error: no such image file: %s\n", path.c_str());
  }
}

int chat(ChatOptions o) {
  apply_image_size(o.images, o.text);
  std::unique_ptr<nm_model, decltype(&nm_model_free)> model(load_model_or_report(o.text), nm_model_free);
  if (!model) return 1;
  std::unique_ptr<nm_session, decltype(&nm_session_free)> session(open_session_or_report(model.get(), o.text),
                                                                 nm_session_free);
  if (!session) return 1;
  const TraceWriter trace(session.get(), o.text);
  if (*nm_session_chat_template(session.get()) == '\0') {
    // A base model: every turn would fail. Say so before the first message, with the ways out.
    std::fprintf(stderr,
                 "error: this model has no chat template NanoMind knows (tokenizer.chat_template is missing or "
                 "unrecognised: a base model?), so it cannot hold a conversation. Give one with --template (%s), "
                 "or complete plain text with nanomind run --raw -p TEXT\n",
                 std::string(ChatTemplate::known_names()).c_str());
    return 1;
  }
  SigintFlag sigint;
  LineReader reader("\n> ");
  std::fprintf(stderr,
               "chat: type a message and press Enter; /image PATH adds a picture to the next message, /reset forgets, "
               "/exit or Ctrl-D leaves; Ctrl-C stops a reply%s.\n",
               reader.editing() ? " (arrows edit the line, up/down recall earlier ones)" : "");
  std::vector<std::string> pending = o.images.paths;  // images for the next message
  std::string line;
  for (;;) {
    if (!reader.read(line)) {
      if (sigint.take()) return kExitInterrupted;
      break;
    }
    if (sigint.take()) return kExitInterrupted;  // Ctrl-C with a line half read
    if (line == "/exit") break;
    if (line.empty()) continue;
    if (line == "/reset") {
      nm_session_reset(session.get());
      pending.clear();
      std::fprintf(stderr, "conversation forgotten\n");
      continue;
    }
    if (line.rfind("/image ", 0) == 0) {
      queue_image(line.substr(7), pending);
      continue;
    }
    const std::vector<nm_image> images = c_images(pending);
    const nm_status st = images.empty()
                             ? nm_session_chat(session.get(), line.c_str(), o.n_predict, stream_piece, &sigint)
                             : nm_session_chat_images(session.get(), line.c_str(), images.data(), (int32_t)images.size(),
                                                      o.n_predict, stream_piece, &sigint);
    pending.clear();
    if (sigint.take()) {
      std::fprintf(stderr, "\n[reply stopped: the conversation keeps it; Ctrl-C again at the prompt leaves]");
    }
    if (st != NM_OK) {
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
  add_device_option(*cmd, opts->text);
  cmd->add_option("-n,--n-predict", opts->n_predict, "Maximum tokens per reply (default 512)")
      ->check(int_in(1, NM_MAX_CTX, "1 to " + std::to_string(NM_MAX_CTX) + " tokens"));
  cmd->add_flag("--ignore-eos", opts->text.ignore_eos,
                "End-of-turn tokens do not end a reply: each runs to -n tokens (fixed-length runs, benchmarks)");
  add_image_options(*cmd, opts->images);
  cmd->callback([opts] { throw CLI::RuntimeError(chat(*opts)); });
}

}  // namespace nm::cli
