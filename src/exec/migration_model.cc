#include "exec/migration_model.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

namespace revive::exec {

namespace {

// Two events closer than this (relative to the clock) count as simultaneous.
double time_epsilon(double time_s) {
  return 1e-9 * (1.0 + std::abs(time_s));
}

}  // namespace

MigrationEstimate estimate_migration(double memory_mib, double dirty_mib_s, double bandwidth_mib_s,
                                     const LiveMigrationParameters& parameters) {
  MigrationFlows flows({bandwidth_mib_s, bandwidth_mib_s}, parameters);
  flows.start({0, 0, 1, memory_mib, dirty_mib_s});
  auto outcomes = flows.run_to_end();
  const auto& outcome = outcomes.front();
  MigrationEstimate estimate;
  estimate.converges = outcome.ok;
  estimate.rounds = outcome.rounds;
  estimate.downtime_s = outcome.downtime_s;
  estimate.total_s = outcome.end_s;
  estimate.precopy_s = outcome.end_s - outcome.transfer_start_s - outcome.downtime_s;
  estimate.transferred_mib = outcome.transferred_mib;
  return estimate;
}

double convergence_limit_ratio(double memory_mib, double bandwidth_mib_s,
                               const LiveMigrationParameters& parameters) {
  double low = 0.0, high = 1.0;
  if (!estimate_migration(memory_mib, 0.0, bandwidth_mib_s, parameters).converges) return 0.0;
  for (int i = 0; i < 30; ++i) {
    double middle = (low + high) / 2;
    if (estimate_migration(memory_mib, middle * bandwidth_mib_s, bandwidth_mib_s, parameters).converges) {
      low = middle;
    } else {
      high = middle;
    }
  }
  return low;
}

MigrationFlows::MigrationFlows(std::vector<double> nic_mib_s, LiveMigrationParameters parameters)
    : nic_(std::move(nic_mib_s)), parameters_(parameters), transferring_(nic_.size(), 0) {
  for (double nic : nic_) {
    if (!(nic > 0.0)) throw std::invalid_argument("every NIC bandwidth must be > 0");
  }
  if (parameters_.setup_s < 0 || parameters_.downtime_ms < 0 || parameters_.max_rounds == 0) {
    throw std::invalid_argument("migration parameters out of range");
  }
}

MigrationFlows MigrationFlows::for_cloud(const model::Cloud& cloud,
                                         const LiveMigrationParameters& parameters) {
  std::vector<double> nic;
  nic.reserve(cloud.hosts.size());
  for (const auto& host : cloud.hosts) nic.push_back(host.nic_gbps * kMibPerSecondPerGbps);
  return MigrationFlows(std::move(nic), parameters);
}

MigrationFlows::Id MigrationFlows::start(const FlowSpec& spec) {
  if (spec.from >= nic_.size() || spec.to >= nic_.size() || spec.from == spec.to) {
    throw std::invalid_argument("migration needs two distinct known hosts");
  }
  if (!(spec.memory_mib > 0.0) || spec.dirty_mib_s < 0.0) {
    throw std::invalid_argument("migration needs memory > 0 and a dirty rate >= 0");
  }
  Flow flow;
  flow.id = next_id_++;
  flow.spec = spec;
  flow.start_s = time_s_;
  flows_.push_back(flow);
  if (spec.skip_setup) {
    // Transferring at once: it shares the NICs from now on (a share of 0 would make it never end).
    begin_transfer(flows_.back());
    recompute_shares();
  }
  return flows_.back().id;
}

FlowOutcome MigrationFlows::cancel(Id id) {
  auto found = std::find_if(flows_.begin(), flows_.end(), [id](const Flow& flow) { return flow.id == id; });
  if (found == flows_.end()) return {};
  auto outcome = outcome_of(*found, false, "cancelled");
  outcome.cancelled = true;
  if (found->phase != Phase::setup) {
    --transferring_[found->spec.from];
    --transferring_[found->spec.to];
  }
  flows_.erase(found);
  recompute_shares();
  return outcome;
}

bool MigrationFlows::contains(Id id) const {
  return std::any_of(flows_.begin(), flows_.end(), [id](const Flow& flow) { return flow.id == id; });
}

double MigrationFlows::share_mib_s(Id id) const {
  for (const auto& flow : flows_) {
    if (flow.id == id) return flow.phase == Phase::setup ? 0.0 : flow.share;
  }
  return 0.0;
}

std::vector<MigrationFlows::FlowView> MigrationFlows::flows() const {
  std::vector<FlowView> views;
  views.reserve(flows_.size());
  for (const auto& flow : flows_) {
    views.push_back(
        {flow.id, flow.spec, flow.phase == Phase::setup, flow.phase == Phase::setup ? 0.0 : flow.share});
  }
  return views;
}

double MigrationFlows::event_time(const Flow& flow) const {
  if (flow.phase == Phase::setup) return flow.start_s + parameters_.setup_s;
  if (flow.remaining_mib <= 0.0) return time_s_;
  return time_s_ + flow.remaining_mib / flow.share;
}

double MigrationFlows::next_event_s() const {
  double next = kNever;
  for (const auto& flow : flows_) next = std::min(next, event_time(flow));
  return next;
}

void MigrationFlows::recompute_shares() {
  for (auto& flow : flows_) {
    if (flow.phase == Phase::setup) continue;
    auto from = flow.spec.from, to = flow.spec.to;
    flow.share = std::min(nic_[from] / transferring_[from], nic_[to] / transferring_[to]);
  }
}

FlowOutcome MigrationFlows::outcome_of(const Flow& flow, bool ok, std::string error) const {
  FlowOutcome outcome;
  outcome.id = flow.id;
  outcome.spec = flow.spec;
  outcome.ok = ok;
  outcome.start_s = flow.start_s;
  outcome.transfer_start_s = flow.phase == Phase::setup ? time_s_ : flow.transfer_start_s;
  outcome.end_s = time_s_;
  outcome.rounds = flow.rounds;
  outcome.transferred_mib = flow.transferred_mib;
  outcome.round_ends_s = flow.round_ends_s;
  if (ok) outcome.downtime_s = time_s_ - flow.round_start_s;
  outcome.error = std::move(error);
  return outcome;
}

void MigrationFlows::begin_transfer(Flow& flow) {
  flow.phase = Phase::precopy;
  flow.transfer_start_s = time_s_;
  flow.round_start_s = time_s_;
  flow.rounds = 1;
  flow.round_mib = flow.remaining_mib = flow.spec.memory_mib;
  ++transferring_[flow.spec.from];
  ++transferring_[flow.spec.to];
}

bool MigrationFlows::transition(Flow& flow, std::vector<FlowOutcome>& finished) {
  const double memory = flow.spec.memory_mib;
  switch (flow.phase) {
    case Phase::setup:
      begin_transfer(flow);
      return false;
    case Phase::precopy: {
      flow.transferred_mib += flow.round_mib;
      flow.round_ends_s.push_back(time_s_);
      double dirty = std::min(memory, flow.spec.dirty_mib_s * (time_s_ - flow.round_start_s));
      if (dirty <= flow.share * parameters_.downtime_ms / 1000.0) {
        flow.phase = Phase::stop_copy;
        flow.round_start_s = time_s_;
        flow.round_mib = flow.remaining_mib = dirty;
        return false;
      }
      bool stalled = dirty >= parameters_.stall_ratio * flow.round_mib;
      flow.stalls = stalled ? flow.stalls + 1 : 0;
      if (flow.rounds >= parameters_.max_rounds || flow.stalls >= parameters_.max_stalls) {
        --transferring_[flow.spec.from];
        --transferring_[flow.spec.to];
        finished.push_back(outcome_of(
            flow, false,
            fmt::format("live migration did not converge: dirty rate {:.0f} MiB/s against {:.0f} MiB/s of "
                        "bandwidth after {} rounds",
                        flow.spec.dirty_mib_s, flow.share, flow.rounds)));
        return true;
      }
      ++flow.rounds;
      flow.round_start_s = time_s_;
      flow.round_mib = flow.remaining_mib = dirty;
      return false;
    }
    case Phase::stop_copy:
      flow.transferred_mib += flow.round_mib;
      --transferring_[flow.spec.from];
      --transferring_[flow.spec.to];
      finished.push_back(outcome_of(flow, true, ""));
      return true;
  }
  return false;
}

void MigrationFlows::advance_to(double time_s, std::vector<FlowOutcome>& finished) {
  if (time_s < time_s_) time_s = time_s_;
  for (;;) {
    recompute_shares();
    double next = next_event_s();
    if (next > time_s + time_epsilon(time_s)) {
      double elapsed = time_s - time_s_;
      for (auto& flow : flows_) {
        if (flow.phase != Phase::setup)
          flow.remaining_mib = std::max(0.0, flow.remaining_mib - flow.share * elapsed);
      }
      time_s_ = time_s;
      return;
    }
    double elapsed = std::max(0.0, next - time_s_);
    double limit = next + time_epsilon(next);
    std::vector<std::size_t> due;
    for (std::size_t i = 0; i < flows_.size(); ++i) {
      auto& flow = flows_[i];
      if (event_time(flow) <= limit) {
        due.push_back(i);
        if (flow.phase != Phase::setup) flow.remaining_mib = 0.0;
      } else if (flow.phase != Phase::setup) {
        flow.remaining_mib = std::max(0.0, flow.remaining_mib - flow.share * elapsed);
      }
    }
    time_s_ = std::max(time_s_, next);
    std::vector<std::size_t> ended;
    for (auto i : due) {
      if (transition(flows_[i], finished)) ended.push_back(i);
    }
    for (auto it = ended.rbegin(); it != ended.rend(); ++it)
      flows_.erase(flows_.begin() + static_cast<long>(*it));
  }
}

std::vector<FlowOutcome> MigrationFlows::run_to_end() {
  std::vector<FlowOutcome> finished;
  while (!flows_.empty()) advance_to(next_event_s(), finished);
  return finished;
}

}  // namespace revive::exec
