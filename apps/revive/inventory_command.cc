#include "cli.h"

namespace revive::cli {
void add_inventory_commands(CLI::App& /*app*/) {}
}  // namespace revive::cli
