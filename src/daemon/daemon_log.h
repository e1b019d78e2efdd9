// DaemonLog: revived's log on stderr (spdlog). Every event of the event log becomes one line carrying its
// kind, host, VM and operation ids; daemon messages (start, stop, warnings) go through it too.
//   text (log.format: text): 2026-12-02T06:00:00.123Z info host_fenced host=td0 operation=recovery-4: td0 ...
//   json (log.format: json): {"at":"...","level":"info","kind":"host_fenced","host":"td0",
//                             "operation":"recovery-4","vm":null,"sequence":17,"message":"td0 fenced ..."}
// Events of kind fatal, warning and fence_* failures are logged at warn; others at info. Lines below
// log.level are not written. No secret reaches it: events and messages never carry tokens or passwords.
// Thread-safety: every method may be called from any thread (spdlog's _mt sink).
#pragma once

#include <memory>
#include <string>

#include "daemon/config.h"
#include "daemon/event_log.h"

namespace spdlog {
class logger;
}

namespace revive::daemon {

class DaemonLog {
 public:
  explicit DaemonLog(const LogConfig& config);
  ~DaemonLog();
  DaemonLog(const DaemonLog&) = delete;
  DaemonLog& operator=(const DaemonLog&) = delete;

  void event(const Event& event);
  void info(const std::string& message);
  void warn(const std::string& message);

 private:
  void write(bool warning, const std::string& kind, const Event* event, const std::string& message);
  bool json_;
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace revive::daemon
