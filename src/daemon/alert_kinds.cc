// The alert kinds on their own (daemon/alerts.h), so that the config reader and its fuzzer (fuzz/) name them
// without linking the alert hooks' HTTP client and processes.
#include <string>
#include <vector>

#include "daemon/alerts.h"

namespace revive::daemon {

const std::vector<std::string>& alert_kinds() {
  static const std::vector<std::string> kinds = {
      "host_suspect", "host_failed",        "host_isolated",          "host_fenced",
      "fence_failed", "fence_held",         "recovery_finished",      "evacuation_finished",
      "vms_waiting",  "capacity_shortfall", "recovery_time_shortfall"};
  return kinds;
}

}  // namespace revive::daemon
