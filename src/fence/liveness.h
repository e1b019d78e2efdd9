// Liveness: what the failure detector last heard from a host, as the lease fencer needs it. Times are
// EventLoop seconds at which the controller received the evidence (never earlier than the host sent it).
// Implemented by detect::HostMonitor. Thread-safety: engine thread only.
#pragma once

#include <optional>

#include "model/cloud.h"

namespace revive::fence {

class Liveness {
 public:
  Liveness() = default;
  Liveness(const Liveness&) = delete;
  Liveness& operator=(const Liveness&) = delete;
  virtual ~Liveness() = default;

  // The last storage lease renewal seen; nullopt when the host has no storage channel.
  virtual std::optional<double> last_lease_renewal_s(model::HostIndex host) const = 0;
  // The last agent heartbeat received (the agent counts the controller lost from its last answer, which
  // follows that heartbeat); nullopt when the host has no agent channel.
  virtual std::optional<double> last_agent_contact_s(model::HostIndex host) const = 0;
  // The last time the controller read the lease successfully, renewed or not: an unchanged lease proves
  // something only if it was read after the deadline (a controller cut off from storage sees nothing).
  virtual std::optional<double> last_lease_check_s(model::HostIndex host) const = 0;
  // What the host's last lease record read declared of its agent's self-fence (a watchdog device it pets, a
  // self-fence command): nullopt when it declared none, or no record declared anything yet; else the most
  // seconds from the agent's self-fence decision until the host is off. Without a declared self-fence an
  // expired lease proves nothing: the agent's exit leaves the VMs running.
  virtual std::optional<double> self_fence_within_s(model::HostIndex host) const = 0;
};

}  // namespace revive::fence
