#include "detect/store_sync.h"

#include <cmath>

#include <nlohmann/json.hpp>

namespace revive::detect {

std::string status_to_json(const DetectorStatus& status, const model::Cloud& cloud) {
  nlohmann::json hosts = nlohmann::json::array();
  for (const auto& host : status.hosts) {
    nlohmann::json channels = nlohmann::json::array();
    for (const auto& channel : host.channels) {
      channels.push_back({{"channel", std::string(to_string(channel.channel))},
                          {"phi", std::round(channel.phi * 100.0) / 100.0},
                          {"silent_s", std::round(channel.silent_s * 1000.0) / 1000.0},
                          {"lost", channel.lost}});
    }
    hosts.push_back(
        {{"host", host.host < cloud.hosts.size() ? cloud.hosts[host.host].name : std::to_string(host.host)},
         {"health", std::string(to_string(host.health))},
         {"since_s", host.since_s},
         {"blocked", host.blocked_reason},
         {"fence_error", host.last_fence_error},
         {"fence_error_permanent", host.fence_error_permanent},
         {"fence_attempts", host.fence_attempts},
         {"channels", channels}});
  }
  nlohmann::json json = {{"armed", status.armed},
                         {"storm_guard_active", status.storm_guard_active},
                         {"suspect_hosts", status.suspect_hosts},
                         {"monitored_hosts", status.monitored_hosts},
                         {"max_suspect_share", status.max_suspect_share},
                         {"fences_in_window", status.fences_in_window},
                         {"fence_rate_limit", status.fence_rate_limit},
                         {"fence_rate_window_s", status.fence_rate_window_s},
                         {"hosts", hosts}};
  return json.dump();
}

int sync_with_store(env::StateStore& store, HostMonitor& monitor, const model::Cloud& cloud) {
  auto arm = store.arm_state();
  if (arm.armed && !monitor.armed()) monitor.arm();
  if (!arm.armed && monitor.armed()) monitor.disarm();
  int applied = 0;
  for (const auto& confirmation : store.confirmations()) {
    model::HostIndex host = cloud.find_host(confirmation.host);
    if (host == model::kNoIndex) continue;
    bool accepted = monitor.confirm_down(host, confirmation.by);
    store.mark_applied(confirmation.id);  // consumed either way: it never waits for a later loss
    if (accepted) ++applied;
  }
  store.publish_status(status_to_json(monitor.status(), cloud));
  return applied;
}

}  // namespace revive::detect
