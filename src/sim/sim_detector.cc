#include "sim/sim_detector.h"

#include <algorithm>

#include "sim/latency.h"

namespace revive::sim {

using detect::Channel;

// The monitor's fencer: hands the host to the executor (which fences it through the world before any
// restart) and answers at once.
class SimDetector::Handover final : public env::Fencer {
 public:
  explicit Handover(SimDetector& detector) : detector_(detector) {}
  void fence(model::HostIndex host, env::Completion done) override {
    if (detector_.declared_at_s_[host] < 0) detector_.declared_at_s_[host] = detector_.loop_.now_s();
    detector_.declare_(host);
    detector_.loop_.post([done] { done(env::OperationResult::success()); });
  }
  void power_status(model::HostIndex,
                    std::function<void(const env::OperationResult&, env::PowerState)> done) override {
    detector_.loop_.post([done] { done(env::OperationResult::success(), env::PowerState::unknown); });
  }

 private:
  SimDetector& detector_;
};

SimDetector::SimDetector(SimEventLoop& loop, const SimWorld& world, const Scenario& scenario,
                         std::size_t host_count, std::function<void(model::HostIndex)> declare,
                         double horizon_s)
    : loop_(loop),
      world_(world),
      scenario_(scenario),
      interval_s_(std::max(0.001, scenario.heartbeat.interval_ms / 1000.0)),
      horizon_s_(horizon_s),
      lease_sequence_(host_count, 0),
      lease_seen_(host_count, 0),
      declared_at_s_(host_count, -1.0),
      declare_(std::move(declare)) {
  detect::DetectorSettings settings;
  settings.network_phi.expected_interval_s = interval_s_;
  settings.storage_phi.expected_interval_s = interval_s_;
  handover_ = std::make_unique<Handover>(*this);
  monitor_ = std::make_unique<detect::HostMonitor>(loop_, *handover_, settings);
  monitor_->subscribe([this](const detect::HostEvent& event) {
    events_.push_back(event);
    if (event.kind == detect::HostEvent::Kind::transition && health_observer_) {
      health_observer_(event.host, event.to);
    }
    if (event.kind == detect::HostEvent::Kind::transition && event.to == detect::HostHealth::fenced) {
      monitor_->recovery_started(event.host);  // the executor owns the recovery from here
    }
  });
  for (model::HostIndex host = 0; host < host_count; ++host) {
    monitor_->add_host(host, detect::ChannelSet::all());
    for (int c = 0; c < detect::kChannelCount; ++c) {
      auto channel = static_cast<Channel>(c);
      double phase = uniform_variate(scenario_.seed, host, 100 + c, 0) * interval_s_;
      loop_.schedule_after(phase, [this, host, channel] { beat(host, channel, 1); });
    }
  }
  loop_.schedule_after(interval_s_ / 2, [this] { poll_leases(); });
  loop_.schedule_at(std::max(loop_.now_s(), horizon_s_), [this] { stop(); });
}

SimDetector::~SimDetector() {
  monitor_.reset();
}

void SimDetector::stop() {
  if (stopped_) return;
  stopped_ = true;
  for (model::HostIndex host = 0; host < declared_at_s_.size(); ++host) monitor_->remove_host(host);
}

void SimDetector::beat(model::HostIndex host, Channel channel, std::uint64_t index) {
  if (stopped_ || !world_.powered(host)) return;  // an unpowered host sends nothing, ever again
  loop_.schedule_after(interval_s_, [this, host, channel, index] { beat(host, channel, index + 1); });
  auto key = static_cast<std::uint64_t>(host) * 4 + static_cast<std::uint64_t>(channel);
  bool lost = uniform_variate(scenario_.seed, key, index, 1) < scenario_.heartbeat.loss;
  if (lost) return;
  if (channel == Channel::storage) {
    // The lease is on storage: renewed even when the host is cut off from us, unless that is cut too.
    if (world_.lease_renewed(host)) ++lease_sequence_[host];
    return;
  }
  if (channel == Channel::agent ? !world_.agent_heard(host) : !world_.reachable(host)) return;
  double delay = scenario_.heartbeat.jitter_ms / 1000.0 * uniform_variate(scenario_.seed, key, index, 2);
  loop_.schedule_after(delay, [this, host, channel] {
    if (!stopped_) monitor_->heartbeat(host, channel);
  });
}

void SimDetector::poll_leases() {
  if (stopped_) return;
  for (model::HostIndex host = 0; host < lease_sequence_.size(); ++host) {
    monitor_->lease_checked(host);
    if (lease_sequence_[host] != lease_seen_[host]) {
      lease_seen_[host] = lease_sequence_[host];
      monitor_->heartbeat(host, Channel::storage);
    }
  }
  loop_.schedule_after(interval_s_ / 2, [this] { poll_leases(); });
}

}  // namespace revive::sim
