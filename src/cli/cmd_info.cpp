// `nanomind info`: what this build and this CPU can do.
#include <cstdio>

#include "cli/commands.h"
#include "kernels/cpu_features.h"

namespace nm::cli {

void register_info(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Show the kernel paths this build can use on this CPU and the one it picks "
                                         "(NM_ISA=<path> in the environment caps it, e.g. NM_ISA=avx2 or scalar)");
  cmd->callback([] {
    std::printf("kernel paths usable here:");
    for (Isa isa : usable_isas()) std::printf(" %s", isa_name(isa));
    std::printf("\nselected: %s\n", isa_name(best_isa()));
  });
}

}  // namespace nm::cli
