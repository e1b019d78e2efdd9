#include "daemon/daemon_log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <fmt/format.h>

namespace revive::daemon {

using nlohmann::json;

DaemonLog::DaemonLog(const LogConfig& config)
    : json_(config.json),
      logger_(
          std::make_shared<spdlog::logger>("revived", std::make_shared<spdlog::sinks::stderr_sink_mt>())) {
  logger_->set_pattern("%v");  // each line is formatted here: its time is the event's
  logger_->set_level(spdlog::level::from_str(config.level));
  logger_->flush_on(spdlog::level::trace);
}

DaemonLog::~DaemonLog() = default;

void DaemonLog::event(const Event& event) {
  bool warning = event.kind == "fatal" || event.kind == "warning" || event.kind == "fence_attempt_failed" ||
                 event.kind == "fence_failed" || event.kind == "fence_blocked";
  write(warning, event.kind, &event, event.message);
}

void DaemonLog::info(const std::string& message) {
  write(false, "daemon", nullptr, message);
}

void DaemonLog::warn(const std::string& message) {
  write(true, "daemon", nullptr, message);
}

void DaemonLog::write(bool warning, const std::string& kind, const Event* event, const std::string& message) {
  auto level = warning ? spdlog::level::warn : spdlog::level::info;
  if (!logger_->should_log(level)) return;
  std::int64_t at = event ? event->at_unix_ms : unix_now_ms();
  auto text_or_null = [](const std::string& value) { return value.empty() ? json(nullptr) : json(value); };
  std::string line;
  if (json_) {
    json record{{"at", rfc3339(at)},
                {"level", warning ? "warn" : "info"},
                {"kind", kind},
                {"host", event ? text_or_null(event->host) : json(nullptr)},
                {"vm", event ? text_or_null(event->vm) : json(nullptr)},
                {"operation", event ? text_or_null(event->operation) : json(nullptr)},
                {"message", message}};
    if (event) record["sequence"] = event->sequence;
    line = record.dump(-1, ' ', false, json::error_handler_t::replace);
  } else {
    std::string ids;
    if (event && !event->host.empty()) ids += " host=" + event->host;
    if (event && !event->vm.empty()) ids += " vm=" + event->vm;
    if (event && !event->operation.empty()) ids += " operation=" + event->operation;
    line = fmt::format("{} {} {}{}: {}", rfc3339(at), warning ? "warn" : "info", kind, ids, message);
  }
  logger_->log(level, "{}", line);
}

}  // namespace revive::daemon
