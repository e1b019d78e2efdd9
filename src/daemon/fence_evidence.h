// Fence evidence: what the daemon knew when it decided to fence a host, kept with the decision so that an
// operator can tell why a server was powered off (GET /v1/hosts/{host}/why, `revive host why HOST`, the
// audit log's fence records, the host_declared_failed event). One JSON document (the API's FenceEvidence):
//   rule         the detector's rule that fired (the reason of the host's transition to failed)
//   channels     each liveness channel's last contact, silence, phi and state against the thresholds
//   lease        the storage lease: last renewal, last read, whether it expired (lease_ttl_s), the agent's
//                declared self-fence
//   bmc          whether the host has a BMC and its power state where known (asked when the decision is
//                made; "unknown" until it answers, or without a BMC)
//   storm_guard  the guard's view: active or not, suspect and monitored hosts, the share that trips it, the
//                fences in the rate window
//   armed, levels  the fencing switch and the fence levels configured
//   fence        the fence's result once known (null before): ok, level, attempts
// Thread-safety: plain functions; call them on the engine thread (they read the HostMonitor).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "detect/host_monitor.h"
#include "env/fencer.h"

namespace revive::daemon {

struct EvidenceContext {
  std::string host_name;
  std::string rule;  // the rule that fired ("" for a view of the host now)
  bool bmc_configured = false;
  std::vector<std::string> levels;  // the fence levels configured, in order
  double loop_now_s = 0;            // the monitor's clock now
  std::int64_t wall_now_ms = 0;     // the wall clock now (to turn the monitor's times into timestamps)
};

// The evidence about `host` now. `fence` and `bmc.power` are null / "unknown" (see set_bmc_power, set_fence).
nlohmann::json fence_evidence(const detect::HostMonitor& monitor, model::HostIndex host,
                              const EvidenceContext& context);
// Records the BMC's answer (power state or the error) in `evidence`.
void set_bmc_power(nlohmann::json& evidence, env::PowerState power, const std::string& error,
                   std::int64_t at_unix_ms);
// Records the fence's outcome (the daemon's fence report: ok, level, attempts, at) in `evidence`.
void set_fence_result(nlohmann::json& evidence, const nlohmann::json& report);

}  // namespace revive::daemon
