// nanomind: command-line entry point. Subcommands are registered explicitly here.
#include <cstdio>

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
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return 0;
}
