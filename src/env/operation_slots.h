// Slots for calls made outside the engines' own schedulers (a fence level's unmaps), counted against the
// same limits as the engines' calls: the call's array, endpoint, switch, the host's starts and the global
// limit, as the inventory declares them. The controller keeps them in its resource ledger, ranked before
// recovery (a recovery waits for the proof these calls make).
//
// Threading: call on the engine's event loop thread; `granted` runs on it (at once, or once slots are free).
#pragma once

#include <functional>

#include "env/calls_in_progress.h"

namespace revive::env {

class OperationSlots {
 public:
  OperationSlots() = default;
  OperationSlots(const OperationSlots&) = delete;
  OperationSlots& operator=(const OperationSlots&) = delete;
  virtual ~OperationSlots() = default;

  // Once `call` may run within every limit it counts against, `granted(release)`: the caller issues the call
  // and runs `release` exactly once, when the call answered.
  using Release = std::function<void()>;
  virtual void acquire(const Call& call, std::function<void(Release)> granted) = 0;
};

}  // namespace revive::env
