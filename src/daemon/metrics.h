// Metrics: the daemon's Prometheus metrics (GET /metrics, text exposition format 0.0.4; docs/metrics.md lists
// every metric with its meaning). Two sources:
//   - counters and histograms fed as things happen: observe() with every event of the event log (fence
//     attempts by level and result, recovery time per priority tier, planner time, events by kind),
//     step_finished() for every recovery or evacuation step, journal_latency() for every wait of the
//     durability gate, decision_saved() for every decision saved, alert_delivery() for the alert hooks;
//   - gauges read at scrape time from the daemon's own views (status, hosts, VMs as the API answers them):
//     hosts by state, VMs protected / unprotected / waiting, operations in flight, detector phi per host and
//     channel, the fencing switch and the storm guard.
// Thread-safety: every method may be called from any thread (one mutex; each call is a few map updates).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/event_log.h"

namespace revive::daemon {

class Metrics {
 public:
  void observe(const Event& event);
  // A step ("fence", "vm_start", "migrate", ...) ended after `seconds`; ok or failed.
  void step_finished(const std::string& step, double seconds, bool ok);
  // The engine waited `seconds` for the journal to make an intent durable.
  void journal_latency(double seconds);
  // A placement decision was queued to be saved with its inputs (daemon/decision_store.h), taking the engine
  // `seconds`, or dropped (the store's queue full).
  void decision_saved(double seconds, bool ok);
  // An alert hook ("webhook", "command") delivered an event, failed to, or dropped it (queue full).
  void alert_delivery(const std::string& hook, const std::string& result);

  // The whole exposition: the gauges from `status` (the API's Status), `hosts` ({hosts: [Host]}) and `vms`
  // ({vms: [Vm]}), then every counter and histogram.
  std::string render(const nlohmann::json& status, const nlohmann::json& hosts,
                     const nlohmann::json& vms) const;

 private:
  struct Histogram {
    std::vector<double> bounds;
    std::vector<std::uint64_t> counts;  // per bucket, not cumulative; one more for +Inf
    double sum = 0;
    std::uint64_t count = 0;
    void add(double value);
  };
  using Labels = std::vector<std::pair<std::string, std::string>>;
  Histogram& histogram(std::map<Labels, Histogram>& family, const Labels& labels,
                       const std::vector<double>& bounds);

  mutable std::mutex mutex_;
  std::map<Labels, std::uint64_t> fence_attempts_;           // {level, result}
  std::map<Labels, std::uint64_t> events_;                   // {kind}
  std::map<Labels, std::uint64_t> alerts_;                   // {hook, result}
  std::map<Labels, Histogram> recovery_;                     // {priority}
  std::map<Labels, Histogram> steps_;                        // {step, result}
  std::map<Labels, Histogram> planner_;                      // {}
  std::map<Labels, Histogram> journal_;                      // {}
  std::map<Labels, Histogram> decisions_;                    // {result}
  std::map<std::string, std::int64_t> recovery_started_ms_;  // recovery operation id -> its start
};

}  // namespace revive::daemon
