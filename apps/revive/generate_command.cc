#include "cli.h"

namespace revive::cli {
void add_generate_command(CLI::App& /*app*/) {}
}  // namespace revive::cli
