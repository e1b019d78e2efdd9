// The bridge between the persistent state store (operator switches, published status) and the running
// detector. The daemon calls sync_with_store() periodically (e.g. every second) on the engine thread: the
// store's arm switch is applied to the monitor, pending `revive host confirm-down` confirmations become
// HostMonitor::confirm_down (and are marked applied), and the monitor's status is published for
// `revive status`. status_to_json is that published form.
#pragma once

#include <string>

#include "detect/host_monitor.h"
#include "env/state_store.h"
#include "model/cloud.h"

namespace revive::detect {

// JSON object: {"armed", "storm_guard_active", "suspect_hosts", "monitored_hosts", "max_suspect_share",
// "fences_in_window", "fence_rate_limit", "fence_rate_window_s", "hosts": [{"host", "health", "since_s",
// "blocked", "fence_error", "fence_error_permanent", "fence_attempts", "channels": [{"channel", "phi",
// "silent_s", "lost"}]}]}. Host names from `cloud` (index as text when out of range).
std::string status_to_json(const DetectorStatus& status, const model::Cloud& cloud);

// Returns the number of confirmations accepted. Every confirmation of a known host is consumed (marked
// applied) at the first sync, accepted or not: HostMonitor::confirm_down refuses one for a host that is not
// declared failed (up, suspect, isolated), and a refused one is gone, never kept for a later loss of the host
// (the refusal is a confirmation_refused HostEvent). Unknown host names stay pending (and are reported by
// `revive status`).
int sync_with_store(env::StateStore& store, HostMonitor& monitor, const model::Cloud& cloud);

}  // namespace revive::detect
