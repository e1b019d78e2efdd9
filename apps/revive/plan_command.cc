#include "cli.h"

namespace revive::cli {
void add_plan_commands(CLI::App& /*app*/) {}
}  // namespace revive::cli
