#include "env/step.h"

#include <array>

namespace revive::env {

namespace {
constexpr std::array<std::string_view, kStepKindCount> kStepNames = {
    "fence", "disk_unmap", "disk_map", "net_config", "vm_start", "vm_stop", "migrate"};
}

std::string_view to_string(StepKind kind) {
  return kStepNames[static_cast<std::size_t>(kind)];
}

std::optional<StepKind> parse_step_kind(std::string_view text) {
  for (std::size_t i = 0; i < kStepNames.size(); ++i) {
    if (kStepNames[i] == text) return static_cast<StepKind>(i);
  }
  return std::nullopt;
}

}  // namespace revive::env
