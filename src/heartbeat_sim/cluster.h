// A simulated cluster for the failure detector and fencing: hosts that send heartbeats on every channel
// (hypervisor keepalive, agent UDP: loss and jitter; storage lease: a renewal counter the agent bumps each
// interval, with loss, which the controller reads every lease_poll_s, declaring the agent's watchdog),
// host agents that self-fence by watchdog, BMCs that can be slow, unreachable or refuse the password, and
// faults (crash, isolation, full cut, controller partition). The real HostMonitor, FenceChain and LeaseFencer
// run on a VirtualLoop against it, and safety invariants are checked as events happen:
//   - a host declared fenced, or whose recovery starts, is really off (never two copies of its VMs);
//   - an isolated host (alive, cut off from the controller, lease renewed) is never declared failed.
// Deterministic: the same options (seed included) give the same run. Thread-safety: single-threaded.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "detect/host_monitor.h"
#include "env/fencer.h"
#include "fence/fence_chain.h"
#include "fence/levels.h"
#include "heartbeat_sim/virtual_loop.h"

namespace revive::heartbeat_sim {

struct HeartbeatSettings {
  double interval_s = 1.0;
  double loss = 0.0;      // probability each heartbeat is lost, per channel, independently
  double jitter_s = 0.0;  // each heartbeat is delayed by a uniform draw in [0, jitter_s]
};

struct BmcSettings {
  double latency_median_s = 1.0;  // power off + status read back (lognormal)
  double latency_spread = 0.3;
  double timeout_s = 5.0;  // how long an unreachable BMC takes to fail
};

enum class BmcBehaviour : std::uint8_t { healthy, unreachable, wrong_password, flaky };

struct ClusterOptions {
  std::size_t hosts = 16;
  detect::ChannelSet channels = detect::ChannelSet::all();
  HeartbeatSettings heartbeat;
  detect::DetectorSettings detector;
  fence::LeaseSettings lease;
  BmcSettings bmc;
  double bmc_flaky_failure = 0.5;  // probability that a flaky BMC is unreachable on a given call
  std::vector<std::string> levels{"ipmi", "lease"};
  double recovery_s = 30.0;   // from recovery start to recovery finished
  double lease_poll_s = 0.5;  // the controller reads every lease record this often
  // The agents have a watchdog (they power their host off within lease.watchdog_s of losing controller and
  // lease) and their lease records say so; false: they have none, declare none, and never self-fence.
  bool agents_self_fence = true;
  std::uint64_t seed = 1;
};

struct Violation {
  double at_s = 0.0;
  model::HostIndex host = model::kNoIndex;
  std::string what;
};

class SimulatedCluster {
 public:
  explicit SimulatedCluster(ClusterOptions options);
  ~SimulatedCluster();

  VirtualLoop& loop() { return loop_; }
  detect::HostMonitor& monitor() { return *monitor_; }
  fence::FenceChain& chain() { return *chain_; }

  // Faults, effective now.
  void crash(model::HostIndex host);                   // power lost
  void isolate(model::HostIndex host, bool isolated);  // network to the controller cut, storage works
  void cut_off(model::HostIndex host, bool cut);       // network and storage cut (BMC too)
  void controller_partition(bool partitioned);         // the controller loses every host and BMC
  void set_bmc(model::HostIndex host, BmcBehaviour behaviour);

  void run_until(double at_s) { loop_.run_until(at_s); }

  bool running(model::HostIndex host) const { return hosts_[host].powered; }
  const std::vector<detect::HostEvent>& events() const { return events_; }
  const std::vector<Violation>& violations() const { return violations_; }
  // Declarations "failed" of hosts that were running at that moment (excluding controller partitions).
  std::size_t false_failed() const { return false_failed_; }
  std::size_t fences_confirmed() const { return fences_confirmed_; }
  std::size_t recoveries_started() const { return recoveries_started_; }
  // Virtual time of the first fenced / recovering event of `host` since its crash; < 0 when none.
  double fenced_at(model::HostIndex host) const { return hosts_[host].fenced_at_s; }
  double crashed_at(model::HostIndex host) const { return hosts_[host].crashed_at_s; }

 private:
  struct SimHost {
    bool powered = true;
    bool network_cut = false;  // isolated or cut off
    bool storage_cut = false;  // cut off
    BmcBehaviour bmc = BmcBehaviour::healthy;
    double last_renewal_s = 0.0;            // agent's view
    double last_ack_s = 0.0;                // agent's view
    std::uint64_t lease_sequence = 0;       // the lease record's renewal counter
    std::uint64_t lease_sequence_seen = 0;  // as the controller last read it
    bool self_fence_pending = false;
    double crashed_at_s = -1.0;
    double fenced_at_s = -1.0;
  };
  class BmcFencer;

  void poll_leases();
  void start_channel(model::HostIndex host, detect::Channel channel);
  void beat(model::HostIndex host, detect::Channel channel);
  void power_off(model::HostIndex host);
  void check_agent(model::HostIndex host);
  void on_event(const detect::HostEvent& event);
  double uniform(double low, double high);

  ClusterOptions options_;
  VirtualLoop loop_;
  std::mt19937_64 random_;
  std::vector<SimHost> hosts_;
  bool partitioned_ = false;
  std::unique_ptr<BmcFencer> bmc_;
  std::unique_ptr<fence::FenceChain> chain_;
  std::unique_ptr<detect::HostMonitor> monitor_;
  std::unique_ptr<fence::LeaseFencer> lease_;
  std::vector<detect::HostEvent> events_;
  std::vector<Violation> violations_;
  std::size_t false_failed_ = 0;
  std::size_t fences_confirmed_ = 0;
  std::size_t recoveries_started_ = 0;
};

}  // namespace revive::heartbeat_sim
