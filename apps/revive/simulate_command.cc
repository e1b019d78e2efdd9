#include "cli.h"

namespace revive::cli {
void add_simulate_commands(CLI::App& /*app*/) {}
}  // namespace revive::cli
