// nanomind: command-line entry point. Subcommands are registered explicitly here.
#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"NanoMind: multimodal inference on small devices"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "nanomind 0.1.0");
  nm::cli::register_info(app);
  nm::cli::register_run(app);
  nm::cli::register_chat(app);
  nm::cli::register_bench(app);
  nm::cli::register_inspect(app);
  nm::cli::register_devices(app);
  nm::cli::register_battery(app);
  nm::cli::register_plan(app);
#ifdef NM_HAVE_SERVER
  nm::cli::register_serve(app);
#endif
  nm::cli::register_speak(app);
  nm::cli::register_transcribe(app);
  nm::cli::register_assist(app);
  nm::cli::register_calibrate(app);
  // CLI11 reads an unknown first word as a stray positional and says only "A subcommand is
  // required": name the word and the commands instead.
  std::string names;
  bool known = false;
  for (const CLI::App* sub : app.get_subcommands({})) {
    names += (names.empty() ? "" : ", ") + sub->get_name();
    known = known || (argc > 1 && sub->check_name(argv[1]));
  }
  if (argc > 1 && argv[1][0] != '-' && !known) {
    std::fprintf(stderr, "error: unknown command '%s' (commands: %s; nanomind --help says more)\n", argv[1],
                 names.c_str());
    return 2;
  }
  try {
    const std::vector<std::string> args = nm::cli::expand_whisper_cpp_flags(std::vector<std::string>(argv, argv + argc));
    std::vector<const char*> expanded;
    for (const std::string& a : args) expanded.push_back(a.c_str());
    app.parse((int)expanded.size(), expanded.data());
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return 0;
}
