#include "model/inventory.h"

namespace revive::model {

std::string Diagnostic::to_string() const {
  return file + ":" + std::to_string(line) + ": " + field + ": " + message;
}

namespace {
std::string join_diagnostics(const std::vector<Diagnostic>& diagnostics) {
  std::string text;
  for (const auto& d : diagnostics) text += d.to_string() + "\n";
  return text;
}
}  // namespace

InventoryError::InventoryError(std::vector<Diagnostic> diagnostics)
    : std::runtime_error(join_diagnostics(diagnostics)), diagnostics_(std::move(diagnostics)) {}

}  // namespace revive::model
