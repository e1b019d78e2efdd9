#include "daemon/alerts.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "drivers/process/command.h"

namespace revive::daemon {

using nlohmann::json;

std::optional<std::string> alert_kind_of(const Event& event) {
  const auto& kind = event.kind;
  if (kind == "host_suspect" || kind == "host_failed" || kind == "host_isolated" || kind == "host_fenced" ||
      kind == "capacity_shortfall" || kind == "recovery_time_shortfall")
    return kind;
  if (kind == "fence_attempt_failed" || kind == "fence_failed") return "fence_failed";
  if (kind == "fence_blocked") return "fence_held";
  if (kind == "operation_finished") {
    if (event.operation.rfind("recovery-", 0) == 0) return "recovery_finished";
    if (event.operation.rfind("evacuation-", 0) == 0) return "evacuation_finished";
    return std::nullopt;
  }
  if (kind == "recovery_planned" && event.details.is_object() && event.details.value("waiting", 0) > 0)
    return "vms_waiting";
  return std::nullopt;
}

struct Alerts::Hook {
  std::string name;  // "webhook" or "command"
  std::vector<std::string> events;
  std::size_t queue_size;
  Metrics& metrics;
  std::optional<WebhookConfig> webhook;
  std::optional<CommandHookConfig> command;

  std::mutex mutex;
  std::condition_variable wake;
  std::deque<std::pair<std::string, Event>> queue;  // alert kind, event
  bool stopping = false;
  std::thread thread;

  Hook(std::string hook_name, std::vector<std::string> kinds, std::size_t size, Metrics& m)
      : name(std::move(hook_name)), events(std::move(kinds)), queue_size(size), metrics(m) {}

  void start() {
    thread = std::thread([this] { run(); });
  }
  void stop() {
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    wake.notify_all();
    if (thread.joinable()) thread.join();
  }

  void offer(const std::string& kind, const Event& event) {
    if (std::find(events.begin(), events.end(), kind) == events.end()) return;
    {
      std::lock_guard lock(mutex);
      if (queue.size() >= queue_size) {
        metrics.alert_delivery(name, "dropped");
        return;
      }
      queue.emplace_back(kind, event);
    }
    wake.notify_one();
  }

  void run() {
    std::unique_lock lock(mutex);
    while (true) {
      wake.wait(lock, [this] { return stopping || !queue.empty(); });
      if (stopping) return;
      auto [kind, event] = std::move(queue.front());
      queue.pop_front();
      lock.unlock();
      bool ok = webhook ? post(kind, event) : run_command(kind, event);
      metrics.alert_delivery(name, ok ? "delivered" : "failed");
      lock.lock();
    }
  }

  // Waits up to `seconds` unless stopping; false when stopping.
  bool pause(double seconds) {
    std::unique_lock lock(mutex);
    return !wake.wait_for(lock, std::chrono::duration<double>(seconds), [this] { return stopping; });
  }

  bool post(const std::string& kind, const Event& event) {
    json body = EventLog::to_json(event);
    body["alert"] = kind;
    std::string text = body.dump();
    const auto& url = webhook->url;
    auto scheme_end = url.find("://");
    auto path_at = url.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
    std::string origin = path_at == std::string::npos ? url : url.substr(0, path_at);
    std::string path = path_at == std::string::npos ? "/" : url.substr(path_at);
    double backoff = webhook->backoff_s;
    for (std::uint32_t attempt = 0; attempt <= webhook->retries; ++attempt) {
      if (attempt > 0) {
        if (!pause(backoff)) return false;
        backoff *= 2;
      }
      httplib::Client client(origin);
      auto timeout = std::chrono::duration_cast<std::chrono::microseconds>(
          std::chrono::duration<double>(webhook->timeout_s));
      client.set_connection_timeout(timeout);
      client.set_read_timeout(timeout);
      client.set_write_timeout(timeout);
      auto result = client.Post(path, text, "application/json");
      if (result && result->status >= 200 && result->status < 300) return true;
    }
    return false;
  }

  bool run_command(const std::string& kind, const Event& event) {
    drivers::Command run;
    run.argv = {command->command};
    run.timeout_s = command->timeout_s;
    run.environment = {{"REVIVE_ALERT_KIND", kind},
                       {"REVIVE_ALERT_EVENT_KIND", event.kind},
                       {"REVIVE_ALERT_SEQUENCE", std::to_string(event.sequence)},
                       {"REVIVE_ALERT_AT", rfc3339(event.at_unix_ms)},
                       {"REVIVE_ALERT_HOST", event.host},
                       {"REVIVE_ALERT_VM", event.vm},
                       {"REVIVE_ALERT_OPERATION", event.operation},
                       {"REVIVE_ALERT_MESSAGE", event.message},
                       {"REVIVE_ALERT_JSON", EventLog::to_json(event).dump()}};
    auto result = drivers::run_command(run);
    return result.started && !result.timed_out && result.exit_status == 0;
  }
};

Alerts::Alerts(const AlertsConfig& config, Metrics& metrics) {
  for (const auto& webhook : config.webhooks) {
    auto hook = std::make_unique<Hook>("webhook", webhook.events, config.queue_size, metrics);
    hook->webhook = webhook;
    hooks_.push_back(std::move(hook));
  }
  for (const auto& command : config.commands) {
    auto hook = std::make_unique<Hook>("command", command.events, config.queue_size, metrics);
    hook->command = command;
    hooks_.push_back(std::move(hook));
  }
  for (auto& hook : hooks_) hook->start();
}

Alerts::~Alerts() {
  for (auto& hook : hooks_) hook->stop();
}

void Alerts::offer(const Event& event) {
  if (hooks_.empty()) return;
  auto kind = alert_kind_of(event);
  if (!kind) return;
  for (auto& hook : hooks_) hook->offer(*kind, event);
}

}  // namespace revive::daemon
