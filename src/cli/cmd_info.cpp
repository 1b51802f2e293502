// `nanomind info`: what this build and this CPU can do.
#include <cstdio>

#include "cli/commands.h"
#include "kernels/cpu_features.h"

namespace nm::cli {

void register_info(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Show the CPU features and kernel paths this build will use");
  cmd->callback([] {
    std::printf("kernel paths usable here:");
    for (Isa isa : usable_isas()) std::printf(" %s", isa_name(isa));
    std::printf("\nselected: %s\n", isa_name(best_isa()));
  });
}

}  // namespace nm::cli
