// The recovery strategies' names (exec/executor.h), apart from the executor so that the config parser's
// fuzzer (fuzz/) links them without the engine.
#include "exec/executor.h"

namespace revive::exec {

std::string_view to_string(Strategy strategy) {
  switch (strategy) {
    case Strategy::serial:
      return "serial";
    case Strategy::parallel_restart:
      return "parallel-restart";
    case Strategy::parallel:
      return "parallel";
    case Strategy::revive:
      return "revive";
  }
  return "revive";
}

std::optional<Strategy> parse_strategy(std::string_view text) {
  for (auto strategy : {Strategy::serial, Strategy::parallel_restart, Strategy::parallel, Strategy::revive}) {
    if (to_string(strategy) == text) return strategy;
  }
  return std::nullopt;
}

}  // namespace revive::exec
