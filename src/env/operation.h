// The result of one side-effecting operation (fence, disk map, VM start...) as drivers report it to the
// engine. Operations are asynchronous: the engine issues them and gets an OperationResult later, through the
// EventLoop, never inline from the issuing call. Every operation is idempotent: repeating one that already
// took effect succeeds (an already-mapped disk maps "again" with ok = true), so a restarted controller can
// replay its journal.
#pragma once

#include <functional>
#include <string>

namespace revive::env {

struct OperationResult {
  bool ok = true;
  // For failures: what went wrong, for people and logs. Never contains secrets.
  std::string error;
  // True when retrying cannot help (wrong password, VM definition rejected); the engine then replans.
  bool permanent = false;

  static OperationResult success() { return {}; }
  static OperationResult failure(std::string message, bool is_permanent = false) {
    return {false, std::move(message), is_permanent};
  }
};

using Completion = std::function<void(const OperationResult&)>;

}  // namespace revive::env
