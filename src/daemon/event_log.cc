#include "daemon/event_log.h"

#include <chrono>
#include <ctime>

#include <fmt/format.h>

namespace revive::daemon {

std::int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string rfc3339(std::int64_t unix_ms) {
  std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", utc.tm_year + 1900, utc.tm_mon + 1,
                     utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(unix_ms % 1000));
}

std::uint64_t EventLog::append(Event event) {
  std::uint64_t sequence = 0;
  {
    std::lock_guard lock(mutex_);
    event.sequence = sequence = ++last_;
    event.at_unix_ms = unix_now_ms();
    events_.push_back(event);
    while (events_.size() > capacity_) events_.pop_front();
    appended_.notify_all();
  }
  for (const auto& listener : listeners_) listener(event);
  return sequence;
}

void EventLog::subscribe(std::function<void(const Event&)> listener) {
  std::lock_guard lock(mutex_);
  listeners_.push_back(std::move(listener));
}

std::vector<Event> EventLog::since(std::uint64_t after, std::size_t limit, double wait_s) const {
  std::unique_lock lock(mutex_);
  if (last_ <= after && wait_s > 0 && !closed_) {
    appended_.wait_for(lock, std::chrono::duration<double>(wait_s), [&] { return last_ > after || closed_; });
  }
  std::vector<Event> found;
  for (const auto& event : events_) {
    if (event.sequence <= after) continue;
    if (found.size() >= limit) break;
    found.push_back(event);
  }
  return found;
}

std::uint64_t EventLog::last_sequence() const {
  std::lock_guard lock(mutex_);
  return last_;
}

void EventLog::close() {
  std::lock_guard lock(mutex_);
  closed_ = true;
  appended_.notify_all();
}

nlohmann::json EventLog::to_json(const Event& event) {
  nlohmann::json out{{"sequence", event.sequence},
                     {"at", rfc3339(event.at_unix_ms)},
                     {"kind", event.kind},
                     {"message", event.message}};
  if (!event.host.empty()) out["host"] = event.host;
  if (!event.vm.empty()) out["vm"] = event.vm;
  if (!event.operation.empty()) out["operation"] = event.operation;
  out["details"] = event.details;
  return out;
}

}  // namespace revive::daemon
