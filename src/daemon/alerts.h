// Alerts: hooks that tell the outside world what the daemon does (config `alerts:`, docs/config.md), on the
// alert kinds chosen per hook:
//   host_suspect, host_failed, host_isolated   the detector's view of a host
//   host_fenced, fence_failed, fence_held      a fence's result (held: the storm guard or the switch)
//   recovery_finished, evacuation_finished     an operation ended (its state in details)
//   vms_waiting                                a recovery plan left protected VMs waiting for room
//   capacity_shortfall                         the periodic capacity check found failures it cannot absorb
// Two kinds of hook:
//   webhook  an HTTP POST of the event as JSON (the API's Event plus "alert": the alert kind) to `url`,
//            retried `retries` times with exponential backoff from `backoff_s` on a failure or a non-2xx;
//   command  a program run without a shell, the event in its environment (REVIVE_ALERT_KIND, _EVENT_KIND,
//            _SEQUENCE, _AT, _HOST, _VM, _OPERATION, _MESSAGE, _JSON), like Pacemaker's alert agents;
//            killed after `timeout_s`.
// offer() never blocks: each hook has its own bounded queue (queue_size events; beyond it an event is
// dropped and counted) and its own thread, so neither a slow receiver nor a slow command holds the engine or
// the other hooks back. Deliveries are counted in Metrics (revive_alerts_total). Stopping (destructor) waits
// for each hook's delivery in progress (at most its timeout; a retry's backoff is cut short) and drops what
// is still queued. Thread-safety: offer() from any thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/event_log.h"
#include "daemon/metrics.h"

namespace revive::daemon {

struct WebhookConfig {
  std::string url;                  // http://HOST:PORT/PATH or https://...
  std::vector<std::string> events;  // alert kinds (above); at least one
  double timeout_s = 5.0;           // per attempt
  std::uint32_t retries = 3;        // after the first attempt
  double backoff_s = 1.0;           // before the first retry; doubles each time
};

struct CommandHookConfig {
  std::string command;  // a path, or a name looked up in PATH
  std::vector<std::string> events;
  double timeout_s = 10.0;
};

struct AlertsConfig {
  std::vector<WebhookConfig> webhooks;
  std::vector<CommandHookConfig> commands;
  std::size_t queue_size = 1000;  // per hook
};

// Every alert kind, in the order above.
const std::vector<std::string>& alert_kinds();
// The alert kind of an event, if it is one.
std::optional<std::string> alert_kind_of(const Event& event);

class Alerts {
 public:
  Alerts(const AlertsConfig& config, Metrics& metrics);
  ~Alerts();
  Alerts(const Alerts&) = delete;
  Alerts& operator=(const Alerts&) = delete;

  void offer(const Event& event);

 private:
  struct Hook;
  std::vector<std::unique_ptr<Hook>> hooks_;
};

}  // namespace revive::daemon
