// SimDetector: the real failure detector (detect::HostMonitor) on simulated heartbeats, for scenarios that
// leave latency.detect out (../shared/spec/simulation.md). Every host beats on three channels (hypervisor
// keepalive and agent UDP while it is powered and reachable; storage lease renewals, read by the controller
// every half interval, while it is powered: an isolated host keeps renewing) at the scenario's
// heartbeat.interval_ms, each heartbeat lost with probability heartbeat.loss and delayed by up to
// heartbeat.jitter_ms. Draws are keyed by (seed, host, channel, beat), so they do not depend on event order.
//
// The monitor decides when a host may be fenced (crash: every channel silent; isolation: network silent but
// the lease renewed -> isolated, never declared, its VMs keep running; storm guard, rate limit, arm switch);
// at that moment the host is handed to the executor (`declare`), which fences it through the world's fencer
// before any restart. Heartbeats stop (and the monitor forgets every host) at `horizon_s`, once detection no
// longer matters, so that the simulation ends when the recovery does.
// Thread-safety: the SimEventLoop's thread only.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "detect/host_monitor.h"
#include "sim/event_loop.h"
#include "sim/scenario.h"
#include "sim/world.h"

namespace revive::sim {

class SimDetector {
 public:
  SimDetector(SimEventLoop& loop, const SimWorld& world, const Scenario& scenario, std::size_t host_count,
              std::function<void(model::HostIndex)> declare, double horizon_s);
  ~SimDetector();
  SimDetector(const SimDetector&) = delete;
  SimDetector& operator=(const SimDetector&) = delete;

  detect::HostMonitor& monitor() { return *monitor_; }
  // When each host was handed to the executor (negative: never).
  const std::vector<double>& declared_at_s() const { return declared_at_s_; }
  const std::vector<detect::HostEvent>& events() const { return events_; }
  // Called at every change of a host's health (up -> suspect, suspect -> up, -> isolated, ...).
  void set_health_observer(std::function<void(model::HostIndex, detect::HostHealth)> observer) {
    health_observer_ = std::move(observer);
  }

 private:
  class Handover;
  void beat(model::HostIndex host, detect::Channel channel, std::uint64_t index);
  void poll_leases();
  void stop();

  SimEventLoop& loop_;
  const SimWorld& world_;
  const Scenario& scenario_;
  double interval_s_;
  double horizon_s_;
  bool stopped_ = false;
  std::unique_ptr<Handover> handover_;
  std::unique_ptr<detect::HostMonitor> monitor_;
  std::vector<std::uint64_t> lease_sequence_, lease_seen_;
  std::vector<double> declared_at_s_;
  std::vector<detect::HostEvent> events_;
  std::function<void(model::HostIndex)> declare_;
  std::function<void(model::HostIndex, detect::HostHealth)> health_observer_;
};

}  // namespace revive::sim
