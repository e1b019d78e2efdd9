// Fencer: proof that a host can no longer run its VMs. Real drivers: IPMI (ipmitool / fence_ipmilan), storage
// fencing, hypervisor destroy, operator confirmation; simulated twin in sim/. A fence succeeds only when the
// power state reads off (or the driver's equivalent proof holds); an already-off host counts as fenced. All
// calls return at once; `done` runs later on the engine's EventLoop. Thread-safety: engine thread only.
#pragma once

#include <functional>

#include "env/operation.h"
#include "model/cloud.h"

namespace revive::env {

enum class PowerState { on, off, unknown };

class Fencer {
 public:
  Fencer() = default;
  Fencer(const Fencer&) = delete;
  Fencer& operator=(const Fencer&) = delete;
  virtual ~Fencer() = default;

  // Powers `host` off and confirms it; ok only when the host is verified off.
  virtual void fence(model::HostIndex host, Completion done) = 0;
  virtual void power_status(model::HostIndex host,
                            std::function<void(const OperationResult&, PowerState)> done) = 0;
};

}  // namespace revive::env
