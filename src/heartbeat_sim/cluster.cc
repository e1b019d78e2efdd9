#include "heartbeat_sim/cluster.h"

#include <cmath>

#include <fmt/format.h>

namespace revive::heartbeat_sim {

using detect::Channel;
using detect::HostHealth;

// The hosts' BMCs as the controller reaches them: ipmitool's behaviour (power off, then read back off).
class SimulatedCluster::BmcFencer final : public env::Fencer {
 public:
  explicit BmcFencer(SimulatedCluster& cluster) : cluster_(cluster) {}

  void fence(model::HostIndex host, env::Completion done) override {
    auto& loop = cluster_.loop_;
    const auto& settings = cluster_.options_.bmc;
    if (!reachable(host)) {
      loop.schedule_after(settings.timeout_s, [done, timeout = settings.timeout_s] {
        done(env::OperationResult::failure(fmt::format("BMC unreachable: no answer within {:g} s", timeout)));
      });
      return;
    }
    if (cluster_.hosts_[host].bmc == BmcBehaviour::wrong_password) {
      loop.schedule_after(0.05, [done] {
        done(env::OperationResult::failure("BMC refused the credentials (wrong user or password)", true));
      });
      return;
    }
    std::normal_distribution<double> normal;
    double latency = settings.latency_median_s * std::exp(settings.latency_spread * normal(cluster_.random_));
    loop.schedule_after(latency, [this, host, done] {
      cluster_.power_off(host);  // an already-off host reads off too
      done(env::OperationResult::success());
    });
  }

  void power_status(model::HostIndex host,
                    std::function<void(const env::OperationResult&, env::PowerState)> done) override {
    bool ok = reachable(host) && cluster_.hosts_[host].bmc != BmcBehaviour::wrong_password;
    bool powered = cluster_.hosts_[host].powered;
    cluster_.loop_.post([done, ok, powered] {
      if (!ok) {
        done(env::OperationResult::failure("BMC unreachable"), env::PowerState::unknown);
      } else {
        done(env::OperationResult::success(), powered ? env::PowerState::on : env::PowerState::off);
      }
    });
  }

 private:
  bool reachable(model::HostIndex host) {
    const auto& state = cluster_.hosts_[host];
    if (cluster_.partitioned_ || state.storage_cut || state.bmc == BmcBehaviour::unreachable) return false;
    if (state.bmc == BmcBehaviour::flaky)
      return cluster_.uniform(0.0, 1.0) >= cluster_.options_.bmc_flaky_failure;
    return true;
  }

  SimulatedCluster& cluster_;
};

SimulatedCluster::SimulatedCluster(ClusterOptions options)
    : options_(std::move(options)), random_(options_.seed), hosts_(options_.hosts) {
  bmc_ = std::make_unique<BmcFencer>(*this);
  chain_ = std::make_unique<fence::FenceChain>(loop_);
  monitor_ = std::make_unique<detect::HostMonitor>(loop_, *chain_, options_.detector);
  lease_ = std::make_unique<fence::LeaseFencer>(loop_, *monitor_, options_.lease);
  chain_->add_level("ipmi", *bmc_);
  chain_->add_level("lease", *lease_);
  chain_->set_default_levels(options_.levels);
  monitor_->subscribe([this](const detect::HostEvent& event) { on_event(event); });
  if (options_.channels.has(Channel::storage)) poll_leases();
  for (model::HostIndex host = 0; host < hosts_.size(); ++host) {
    monitor_->add_host(host, options_.channels);
    for (int c = 0; c < detect::kChannelCount; ++c) {
      if (options_.channels.has(static_cast<Channel>(c))) start_channel(host, static_cast<Channel>(c));
    }
  }
}

SimulatedCluster::~SimulatedCluster() {
  // The monitor goes before the fencers it uses; the loop (a member) last.
  monitor_.reset();
}

double SimulatedCluster::uniform(double low, double high) {
  std::uniform_real_distribution<double> distribution(low, high);
  return distribution(random_);
}

void SimulatedCluster::poll_leases() {
  // The controller reads every lease on shared storage each lease_poll_s, unless it is cut off from it.
  // A changed renewal counter is a storage heartbeat, observed at the read.
  if (!partitioned_) {
    for (model::HostIndex host = 0; host < hosts_.size(); ++host) {
      auto& state = hosts_[host];
      detect::SelfFence declared;
      if (options_.agents_self_fence && options_.channels.has(Channel::agent)) {
        declared.watchdog = true;
        declared.within_ms = static_cast<std::int64_t>(std::llround(options_.lease.watchdog_s * 1000.0));
      }
      if (state.lease_sequence > 0) monitor_->lease_self_fence(host, declared);  // the record says so
      monitor_->lease_checked(host);
      if (state.lease_sequence != state.lease_sequence_seen) {
        state.lease_sequence_seen = state.lease_sequence;
        monitor_->heartbeat(host, Channel::storage);
      }
    }
  }
  loop_.schedule_after(options_.lease_poll_s, [this] { poll_leases(); });
}

void SimulatedCluster::start_channel(model::HostIndex host, Channel channel) {
  loop_.schedule_after(uniform(0.0, options_.heartbeat.interval_s),
                       [this, host, channel] { beat(host, channel); });
}

void SimulatedCluster::beat(model::HostIndex host, Channel channel) {
  auto& state = hosts_[host];
  if (!state.powered) return;  // a host that is off sends nothing, ever again
  double now = loop_.now_s();
  loop_.schedule_after(options_.heartbeat.interval_s, [this, host, channel] { beat(host, channel); });
  bool lost = uniform(0.0, 1.0) < options_.heartbeat.loss;
  double delay = options_.heartbeat.jitter_s > 0 ? uniform(0.0, options_.heartbeat.jitter_s) : 0.0;
  if (channel == Channel::storage) {
    // The agent renews its lease record; the controller sees it at its next read (poll_leases).
    if (!state.storage_cut && !lost) {
      state.last_renewal_s = now;
      ++state.lease_sequence;
    }
    check_agent(host);
    return;
  } else {
    if (state.network_cut || lost || partitioned_) return;
    if (channel == Channel::agent) {
      // The controller's answer reaches the agent one more delay later.
      double back = options_.heartbeat.jitter_s > 0 ? uniform(0.0, options_.heartbeat.jitter_s) : 0.0;
      state.last_ack_s = now + delay + back;
    }
  }
  loop_.schedule_after(delay, [this, host, channel] {
    if (!partitioned_) monitor_->heartbeat(host, channel);
  });
}

void SimulatedCluster::check_agent(model::HostIndex host) {
  auto& state = hosts_[host];
  if (!options_.channels.has(Channel::agent) || !options_.agents_self_fence || state.self_fence_pending ||
      !state.powered)
    return;
  double now = loop_.now_s();
  bool lease_lost = now - state.last_renewal_s >= options_.lease.lease_ttl_s;
  bool controller_lost = now - state.last_ack_s >= options_.lease.controller_timeout_s;
  if (!lease_lost || !controller_lost) return;
  state.self_fence_pending = true;
  loop_.schedule_after(uniform(0.0, options_.lease.watchdog_s), [this, host] { power_off(host); });
}

void SimulatedCluster::power_off(model::HostIndex host) {
  hosts_[host].powered = false;
}

void SimulatedCluster::crash(model::HostIndex host) {
  if (!hosts_[host].powered) return;
  hosts_[host].crashed_at_s = loop_.now_s();
  power_off(host);
}

void SimulatedCluster::isolate(model::HostIndex host, bool isolated) {
  hosts_[host].network_cut = isolated;
}

void SimulatedCluster::cut_off(model::HostIndex host, bool cut) {
  hosts_[host].network_cut = cut;
  hosts_[host].storage_cut = cut;
}

void SimulatedCluster::controller_partition(bool partitioned) {
  partitioned_ = partitioned;
}

void SimulatedCluster::set_bmc(model::HostIndex host, BmcBehaviour behaviour) {
  hosts_[host].bmc = behaviour;
}

void SimulatedCluster::on_event(const detect::HostEvent& event) {
  events_.push_back(event);
  if (event.kind != detect::HostEvent::Kind::transition) return;
  auto& state = hosts_[event.host];
  if (event.to == HostHealth::failed && event.from != HostHealth::fencing && state.powered && !partitioned_ &&
      !state.storage_cut) {
    ++false_failed_;
    if (state.network_cut && !state.storage_cut) {
      violations_.push_back({event.at_s, event.host, "isolated host declared failed: " + event.reason});
    }
  }
  if (event.to == HostHealth::fenced) {
    ++fences_confirmed_;
    if (state.fenced_at_s < 0) state.fenced_at_s = event.at_s;
    if (state.powered) violations_.push_back({event.at_s, event.host, "fenced while still running"});
    model::HostIndex host = event.host;
    loop_.post([this, host] {
      if (!monitor_->recovery_started(host)) return;
      ++recoveries_started_;
      if (hosts_[host].powered) {
        violations_.push_back({loop_.now_s(), host, "recovery started while the old host runs: two copies"});
      }
      loop_.schedule_after(options_.recovery_s, [this, host] { monitor_->recovery_finished(host); });
    });
  }
}

}  // namespace revive::heartbeat_sim
