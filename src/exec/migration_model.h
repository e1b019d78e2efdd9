// Live-migration model (pre-copy), documented in docs/evacuation.md. Pure: no I/O, no clock, deterministic.
//
// A migration first spends `setup_s` (connection, target VM defined) without using the network, then copies
// the VM's whole memory (round 1) while the VM keeps running and dirtying pages at `dirty_mib_s`; each
// further round copies what was dirtied during the previous one (at most the whole memory). As soon as the
// dirty remainder can be copied within `downtime_ms` at the bandwidth the migration has at that moment, the
// VM is paused and the remainder copied (stop-and-copy): that pause is the downtime. A migration whose dirty
// rate approaches its bandwidth never gets there: after `max_rounds` rounds, or `max_stalls` rounds in a row
// that shrink the remainder by less than `1 - stall_ratio`, it is reported non-convergent (aborted, the VM
// keeps running on its source).
//
// Bandwidth: a host's NIC (nic_gbps, 1 Gbps = 119.2 MiB/s) is shared equally by the migrations transferring
// through it, as source or target; a migration gets min(nic_src / n_src, nic_dst / n_dst). Migrations in
// setup do not count. MigrationFlows is the fluid simulation of many concurrent migrations whose shares
// change as others start and finish: the simulator uses it for actual durations, the evacuation scheduler
// runs copies of it to predict.
//
// Thread-safety: value types, no shared state.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "model/cloud.h"

namespace revive::exec {

// MiB/s per Gbps: 10^9 / 8 bytes / 2^20 ≈ 119.2.
inline constexpr double kMibPerSecondPerGbps = 1e9 / 8.0 / (1024.0 * 1024.0);
inline constexpr double kNever = std::numeric_limits<double>::infinity();

struct LiveMigrationParameters {
  double setup_s = 2.0;           // before any memory moves; the NIC is free meanwhile
  double downtime_ms = 300.0;     // stop-and-copy once the dirty remainder fits this at the current share
  std::uint32_t max_rounds = 30;  // pre-copy rounds before the migration is declared non-convergent
  double stall_ratio = 0.95;      // a round that leaves more than this x the previous round's amount stalls
  std::uint32_t max_stalls = 3;   // stalls in a row: non-convergent
};

// One migration at a constant bandwidth (nothing else sharing it).
struct MigrationEstimate {
  bool converges = false;
  std::uint32_t rounds = 0;  // pre-copy rounds (1 = only the full copy)
  double precopy_s = 0.0;    // time of the pre-copy rounds
  double downtime_s = 0.0;   // stop-and-copy pause (0 when it does not converge)
  double total_s = 0.0;      // setup + pre-copy + downtime (until the abort when it does not converge)
  double transferred_mib = 0.0;
};

MigrationEstimate estimate_migration(double memory_mib, double dirty_mib_s, double bandwidth_mib_s,
                                     const LiveMigrationParameters& parameters);

// The largest ratio dirty / share for which a migration of this memory still converges within the rounds
// allowed at `bandwidth_mib_s` (found by bisection; used by admission control).
double convergence_limit_ratio(double memory_mib, double bandwidth_mib_s,
                               const LiveMigrationParameters& parameters);

struct FlowSpec {
  model::VmIndex vm = model::kNoIndex;
  model::HostIndex from = model::kNoIndex;
  model::HostIndex to = model::kNoIndex;
  double memory_mib = 0.0;
  double dirty_mib_s = 0.0;
  bool skip_setup = false;  // already set up: starts transferring at once (a migration known to be under way)
};

struct FlowOutcome {
  std::uint64_t id = 0;
  FlowSpec spec;
  bool ok = false;         // converged and switched over
  bool cancelled = false;  // aborted by the caller
  double start_s = 0.0;    // setup began
  double transfer_start_s = 0.0;
  double end_s = 0.0;
  std::uint32_t rounds = 0;
  double downtime_s = 0.0;
  double transferred_mib = 0.0;
  std::vector<double> round_ends_s;  // when each pre-copy round ended (the last one begins the stop-and-copy)
  std::string error;                 // non-convergence or cancellation, in words
};

class MigrationFlows {
 public:
  using Id = std::uint64_t;

  // `nic_mib_s`: each host's NIC bandwidth in MiB/s (> 0), indexed by HostIndex.
  MigrationFlows(std::vector<double> nic_mib_s, LiveMigrationParameters parameters);
  // Every host's nic_gbps converted.
  static MigrationFlows for_cloud(const model::Cloud& cloud, const LiveMigrationParameters& parameters);

  double time_s() const { return time_s_; }
  // Starts a migration now (at time_s()); ids grow from 1. Throws std::invalid_argument for a bad spec.
  Id start(const FlowSpec& spec);
  // Aborts a migration now; its outcome (cancelled) is returned. Unknown ids give an outcome with id 0.
  FlowOutcome cancel(Id id);
  // The moment of the next phase change (setup end, round end, switch-over), kNever when idle.
  double next_event_s() const;
  // Moves the clock to `time_s` (>= time_s()), processing every phase change up to it; migrations that ended
  // (switched over or found non-convergent) are appended to `finished` in the order they ended.
  void advance_to(double time_s, std::vector<FlowOutcome>& finished);
  // Runs until every migration ended; returns their outcomes.
  std::vector<FlowOutcome> run_to_end();

  std::size_t active() const { return flows_.size(); }
  bool contains(Id id) const;
  // Current bandwidth of a transferring migration, 0 during setup or for unknown ids.
  double share_mib_s(Id id) const;
  // Migrations transferring through a host's NIC (source or target) right now.
  std::uint32_t transferring_on(model::HostIndex host) const { return transferring_[host]; }
  double nic_mib_s(model::HostIndex host) const { return nic_[host]; }
  const LiveMigrationParameters& parameters() const { return parameters_; }

  struct FlowView {
    Id id;
    FlowSpec spec;
    bool in_setup;
    double share_mib_s;
  };
  std::vector<FlowView> flows() const;

 private:
  enum class Phase : std::uint8_t { setup, precopy, stop_copy };
  struct Flow {
    Id id = 0;
    FlowSpec spec;
    Phase phase = Phase::setup;
    double start_s = 0.0;
    double transfer_start_s = 0.0;
    double round_start_s = 0.0;
    double round_mib = 0.0;      // size of the current round
    double remaining_mib = 0.0;  // of the current round or stop-and-copy
    double share = 0.0;
    double transferred_mib = 0.0;
    std::uint32_t rounds = 0;
    std::uint32_t stalls = 0;
    std::vector<double> round_ends_s;
  };
  double event_time(const Flow& flow) const;
  void begin_transfer(Flow& flow);
  void recompute_shares();
  // Handles `flow`'s phase change at time_s_; true when the migration ended (outcome appended).
  bool transition(Flow& flow, std::vector<FlowOutcome>& finished);
  FlowOutcome outcome_of(const Flow& flow, bool ok, std::string error) const;

  std::vector<double> nic_;
  LiveMigrationParameters parameters_;
  std::vector<std::uint32_t> transferring_;
  std::vector<Flow> flows_;  // in id order
  double time_s_ = 0.0;
  Id next_id_ = 1;
};

}  // namespace revive::exec
