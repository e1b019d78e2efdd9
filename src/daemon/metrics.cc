#include "daemon/metrics.h"

#include <cmath>

#include <fmt/format.h>

namespace revive::daemon {

using nlohmann::json;

namespace {

const std::vector<double> kRecoveryBounds = {1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800};
const std::vector<double> kStepBounds = {0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300};
const std::vector<double> kPlannerBounds = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30};
const std::vector<double> kJournalBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1};

std::string escape(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string number(double value) {
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (std::isnan(value)) return "NaN";
  return fmt::format("{}", value);
}

class Writer {
 public:
  void family(const std::string& name, const std::string& type, const std::string& help) {
    text_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  void sample(const std::string& name, const std::vector<std::pair<std::string, std::string>>& labels,
              double value) {
    text_ += name;
    if (!labels.empty()) {
      text_ += '{';
      for (std::size_t i = 0; i < labels.size(); ++i)
        text_ += fmt::format("{}{}=\"{}\"", i ? "," : "", labels[i].first, escape(labels[i].second));
      text_ += '}';
    }
    text_ += ' ' + number(value) + '\n';
  }
  std::string take() { return std::move(text_); }

 private:
  std::string text_;
};

}  // namespace

void Metrics::Histogram::add(double value) {
  std::size_t bucket = 0;
  while (bucket < bounds.size() && value > bounds[bucket]) ++bucket;
  ++counts[bucket];
  sum += value;
  ++count;
}

Metrics::Histogram& Metrics::histogram(std::map<Labels, Histogram>& family, const Labels& labels,
                                       const std::vector<double>& bounds) {
  auto [it, added] = family.try_emplace(labels);
  if (added) {
    it->second.bounds = bounds;
    it->second.counts.assign(bounds.size() + 1, 0);
  }
  return it->second;
}

void Metrics::observe(const Event& event) {
  std::lock_guard lock(mutex_);
  ++events_[{{"kind", event.kind}}];
  const auto& details = event.details;
  if (event.kind == "host_declared_failed" && !event.operation.empty()) {
    recovery_started_ms_[event.operation] = event.at_unix_ms;
  } else if (event.kind == "vm_recovered") {
    auto started = recovery_started_ms_.find(event.operation);
    if (started != recovery_started_ms_.end()) {
      std::string priority = details.is_object() ? details.value("priority", "unknown") : "unknown";
      histogram(recovery_, {{"priority", priority}}, kRecoveryBounds)
          .add(static_cast<double>(event.at_unix_ms - started->second) / 1000.0);
    }
  } else if (event.kind == "host_fenced" || event.kind == "fence_attempt_failed") {
    if (details.is_object() && details.contains("attempts") && details["attempts"].is_array()) {
      for (const auto& attempt : details["attempts"]) {
        if (attempt.value("skipped", false)) continue;
        ++fence_attempts_[{{"level", attempt.value("level", "")},
                           {"result", attempt.value("ok", false) ? "ok" : "failed"}}];
      }
    }
  } else if (event.kind == "fence_blocked") {
    ++fence_attempts_[{{"level", "none"}, {"result", "held"}}];
  } else if (event.kind == "host_confirmed_down") {
    ++fence_attempts_[{{"level", "operator"}, {"result", "ok"}}];
  } else if (event.kind == "recovery_planned" && details.is_object() && details.contains("plan_ms")) {
    histogram(planner_, {}, kPlannerBounds).add(details.value("plan_ms", 0.0) / 1000.0);
  } else if (event.kind == "operation_finished") {
    recovery_started_ms_.erase(event.operation);
  }
}

void Metrics::step_finished(const std::string& step, double seconds, bool ok) {
  std::lock_guard lock(mutex_);
  histogram(steps_, {{"step", step}, {"result", ok ? "ok" : "failed"}}, kStepBounds).add(seconds);
}

void Metrics::journal_latency(double seconds) {
  std::lock_guard lock(mutex_);
  histogram(journal_, {}, kJournalBounds).add(seconds);
}

void Metrics::decision_saved(double seconds, bool ok) {
  std::lock_guard lock(mutex_);
  histogram(decisions_, {{"result", ok ? "saved" : "failed"}}, kJournalBounds).add(seconds);
}

void Metrics::alert_delivery(const std::string& hook, const std::string& result) {
  std::lock_guard lock(mutex_);
  ++alerts_[{{"hook", hook}, {"result", result}}];
}

std::string Metrics::render(const json& status, const json& hosts, const json& vms) const {
  Writer out;
  out.family("revive_hosts", "gauge", "Hosts by state (the API's HostState).");
  if (status.contains("hosts") && status["hosts"].contains("by_state")) {
    for (const auto& [state, count] : status["hosts"]["by_state"].items())
      out.sample("revive_hosts", {{"state", state}}, count.get<double>());
  }
  std::size_t protected_vms = 0;
  std::size_t unprotected = 0;
  std::size_t waiting = 0;
  std::map<std::string, std::size_t> by_state;
  if (vms.contains("vms") && vms["vms"].is_array()) {
    for (const auto& vm : vms["vms"]) {
      (vm.value("protect", false) ? protected_vms : unprotected) += 1;
      auto state = vm.value("state", "");
      if (state == "waiting") ++waiting;
      ++by_state[state];
    }
  }
  out.family("revive_vms", "gauge", "VMs by protection: protected (restarted on failure) or unprotected.");
  out.sample("revive_vms", {{"protection", "protected"}}, static_cast<double>(protected_vms));
  out.sample("revive_vms", {{"protection", "unprotected"}}, static_cast<double>(unprotected));
  out.family("revive_vms_waiting", "gauge", "Protected VMs waiting for room to be restarted.");
  out.sample("revive_vms_waiting", {}, static_cast<double>(waiting));
  out.family("revive_vms_by_state", "gauge", "VMs by state (the API's VmState).");
  for (const auto& [state, count] : by_state)
    out.sample("revive_vms_by_state", {{"state", state}}, static_cast<double>(count));
  out.family("revive_operations_in_flight", "gauge",
             "Operations (recoveries, evacuations, restarts) running.");
  out.sample("revive_operations_in_flight", {}, status.value("operations_running", 0.0));
  bool armed = status.contains("fencing") && status["fencing"].value("armed", false);
  out.family("revive_fencing_armed", "gauge", "1 when fencing (and so automatic recovery) is armed.");
  out.sample("revive_fencing_armed", {}, armed ? 1 : 0);
  out.family("revive_storm_guard_active", "gauge", "1 while the storm guard holds every fence back.");
  out.sample("revive_storm_guard_active", {}, status.value("storm_guard_active", false) ? 1 : 0);
  out.family("revive_detector_phi", "gauge", "The failure detector's phi per host and liveness channel.");
  if (hosts.contains("hosts") && hosts["hosts"].is_array()) {
    for (const auto& host : hosts["hosts"]) {
      if (!host.contains("channels")) continue;
      for (const auto& channel : host["channels"])
        out.sample("revive_detector_phi",
                   {{"host", host.value("name", "")}, {"channel", channel.value("channel", "")}},
                   channel.value("phi", 0.0));
    }
  }

  std::lock_guard lock(mutex_);
  auto counters = [&](const std::string& name, const std::string& help,
                      const std::map<Labels, std::uint64_t>& family) {
    out.family(name, "counter", help);
    for (const auto& [labels, value] : family) out.sample(name, labels, static_cast<double>(value));
  };
  counters("revive_fence_attempts_total",
           "Fence attempts by level and result (ok, failed; held: the storm guard or the switch held it).",
           fence_attempts_);
  counters("revive_events_total", "Events of the event log by kind.", events_);
  counters("revive_alerts_total", "Alert deliveries by hook and result (delivered, failed, dropped).",
           alerts_);
  auto histograms = [&](const std::string& name, const std::string& help,
                        const std::map<Labels, Histogram>& family) {
    out.family(name, "histogram", help);
    for (const auto& [labels, h] : family) {
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i <= h.bounds.size(); ++i) {
        cumulative += h.counts[i];
        Labels with_le = labels;
        with_le.emplace_back("le", i < h.bounds.size() ? number(h.bounds[i]) : "+Inf");
        out.sample(name + "_bucket", with_le, static_cast<double>(cumulative));
      }
      out.sample(name + "_sum", labels, h.sum);
      out.sample(name + "_count", labels, static_cast<double>(h.count));
    }
  };
  histograms("revive_recovery_seconds",
             "Time from a host declared failed to each of its VMs running again, by priority tier.",
             recovery_);
  histograms("revive_step_seconds", "Latency of recovery and evacuation steps, by step and result.", steps_);
  histograms("revive_planner_seconds", "Time the planner took for each recovery plan.", planner_);
  histograms("revive_journal_durable_seconds",
             "Time the engine waited for the journal to make an intent durable.", journal_);
  histograms("revive_decision_save_seconds",
             "Time the engine took to hand a placement decision with its inputs to the decision store.",
             decisions_);
  return out.take();
}

}  // namespace revive::daemon
