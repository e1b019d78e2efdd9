#include "daemon/fence_evidence.h"

#include <algorithm>

#include "daemon/event_log.h"

namespace revive::daemon {

using nlohmann::json;

namespace {

json timestamp_of(const std::optional<double>& loop_s, const EvidenceContext& context) {
  if (!loop_s) return nullptr;
  return rfc3339(context.wall_now_ms - static_cast<std::int64_t>((context.loop_now_s - *loop_s) * 1000));
}

}  // namespace

json fence_evidence(const detect::HostMonitor& monitor, model::HostIndex host,
                    const EvidenceContext& context) {
  const auto& settings = monitor.settings();
  auto status = monitor.status();
  json channels = json::array();
  std::string health = "not watched";
  for (const auto& host_status : status.hosts) {
    if (host_status.host != host) continue;
    health = std::string(detect::to_string(host_status.health));
    for (const auto& channel : host_status.channels) {
      const char* state = channel.lost || channel.phi >= settings.fail_phi ? "silent"
                          : channel.phi >= settings.suspect_phi            ? "suspect"
                                                                           : "alive";
      channels.push_back({{"channel", detect::to_string(channel.channel)},
                          {"state", state},
                          {"phi", std::max(0.0, channel.phi)},
                          {"silent_s", channel.silent_s},
                          {"lost", channel.lost},
                          {"last_contact_at", rfc3339(context.wall_now_ms -
                                                      static_cast<std::int64_t>(channel.silent_s * 1000))}});
    }
  }
  auto renewal = monitor.last_lease_renewal_s(host);
  auto checked = monitor.last_lease_check_s(host);
  auto self_fence = monitor.self_fence_within_s(host);
  json lease{{"last_renewal_at", timestamp_of(renewal, context)},
             {"last_checked_at", timestamp_of(checked, context)},
             {"silent_s", renewal ? json(context.loop_now_s - *renewal) : json(nullptr)},
             {"ttl_s", settings.lease_ttl_s},
             {"expired", !renewal || context.loop_now_s - *renewal >= settings.lease_ttl_s},
             {"self_fence_within_s", self_fence ? json(*self_fence) : json(nullptr)}};
  double share = status.monitored_hosts == 0 ? 0.0
                                             : static_cast<double>(status.suspect_hosts) /
                                                   static_cast<double>(status.monitored_hosts);
  json storm{{"active", status.storm_guard_active},
             {"suspect_hosts", status.suspect_hosts},
             {"monitored_hosts", status.monitored_hosts},
             {"suspect_share", share},
             {"max_suspect_share", settings.max_suspect_share},
             {"min_hosts", settings.storm_min_hosts},
             {"fences_in_window", status.fences_in_window},
             {"fence_rate_limit", status.fence_rate_limit},
             {"fence_rate_window_s", status.fence_rate_window_s}};
  return {{"host", context.host_name},
          {"at", rfc3339(context.wall_now_ms)},
          {"health", health},
          {"rule", context.rule.empty() ? json(nullptr) : json(context.rule)},
          {"thresholds", {{"suspect_phi", settings.suspect_phi}, {"fail_phi", settings.fail_phi}}},
          {"channels", channels},
          {"lease", lease},
          {"bmc",
           {{"configured", context.bmc_configured},
            {"power", "unknown"},
            {"read_at", nullptr},
            {"error", nullptr}}},
          {"storm_guard", storm},
          {"armed", status.armed},
          {"levels", context.levels},
          {"fence", nullptr}};
}

void set_bmc_power(json& evidence, env::PowerState power, const std::string& error, std::int64_t at_unix_ms) {
  auto& bmc = evidence["bmc"];
  bmc["power"] = power == env::PowerState::on ? "on" : power == env::PowerState::off ? "off" : "unknown";
  bmc["read_at"] = rfc3339(at_unix_ms);
  bmc["error"] = error.empty() ? json(nullptr) : json(error);
}

void set_fence_result(json& evidence, const json& report) {
  evidence["fence"] = report;
}

}  // namespace revive::daemon
