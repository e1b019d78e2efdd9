// EventLog: what the daemon tells operators happened (host suspect / failed / fenced, recovery and evacuation
// progress, VM restarts, capacity shortfalls, operator actions), numbered from 1 in order. The REST API
// lists it (GET /v1/events) and streams it (server-sent events): since() waits for the next event.
// Keeps the latest `capacity` events in memory (older ones are dropped; their numbers are never reused).
// Thread-safety: every method may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace revive::daemon {

struct Event {
  std::uint64_t sequence = 0;
  std::int64_t at_unix_ms = 0;
  std::string kind;       // "host_failed", "fence_done", "vm_running", ... (docs/api.md lists them)
  std::string host;       // empty when it concerns no host
  std::string vm;         // empty when it concerns no VM
  std::string operation;  // the operation it belongs to, empty when none
  std::string message;    // one sentence for people
  nlohmann::json details = nlohmann::json::object();
};

class EventLog {
 public:
  explicit EventLog(std::size_t capacity = 20000) : capacity_(capacity) {}
  // Stamps the event with its sequence number and the time now; returns the number.
  std::uint64_t append(Event event);
  // Events numbered above `after`, oldest first, at most `limit`; waits up to `wait_s` for one when none is
  // there yet (or until close()).
  std::vector<Event> since(std::uint64_t after, std::size_t limit, double wait_s) const;
  std::uint64_t last_sequence() const;
  // `listener` is called with every event appended from now on, on the appending thread, after it is
  // stored and outside the log's lock; it must be quick (queue or count). Subscribe before appending starts.
  void subscribe(std::function<void(const Event&)> listener);
  // Wakes every waiter; later since() calls return at once.
  void close();

  static nlohmann::json to_json(const Event& event);

 private:
  std::size_t capacity_;
  mutable std::mutex mutex_;
  mutable std::condition_variable appended_;
  std::deque<Event> events_;
  std::vector<std::function<void(const Event&)>> listeners_;
  std::uint64_t last_ = 0;
  bool closed_ = false;
};

// RFC 3339 UTC with milliseconds: 2026-12-02T03:04:05.678Z.
std::string rfc3339(std::int64_t unix_ms);
std::int64_t unix_now_ms();

}  // namespace revive::daemon
