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
  // The host is back (its heartbeats resumed, it rejoined after recovery, an operator returned it to
  // service): every proof this fencer holds or caches for `host` (an operator's confirmation, a remembered
  // "off") belonged to the loss that just ended and is dropped, and fences of `host` still waiting for such a
  // proof fail. A later fence of `host` needs fresh proof. Whoever declares a host back calls this on the
  // fencer it fences through (detect::HostMonitor does so on its own fencer). Default: nothing is cached.
  virtual void host_recovered(model::HostIndex /*host*/) {}
};

}  // namespace revive::env
