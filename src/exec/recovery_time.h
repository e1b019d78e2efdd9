// Predicted recovery time per priority tier (`revive check --rto`): for every failure the capacity check
// considers (each single host, each failure-domain value, N-host sets), when each tier would be running
// again, p50 and p90, against the inventory's `policy.rto_s` budgets, and what binds.
//
// How: the failure's plan (the planner, as for the capacity check), then `samples` runs of the executor's
// what-if list scheduler (exec/dry_run.h: every array, switch, endpoint and per-host start limit) on step
// durations drawn from the latency model (lognormal median/spread per step kind, detection and fence per
// failed host), with tier-ordered deadlines (critical first, as the `parallel` strategy and Revive's
// held-back slots give the critical tier). A tier's time in one run = when its last placed VM is running,
// from the failure. p50 and p90 are prediction bounds from the runs (the k-th smallest of n, k = ceil(q (n +
// 1)): a new run stays at or below it with probability >= q). A tier with waiting VMs never completes: its
// budget is broken whatever the times. What binds: the term of the lower bound (exec/bound.h) at median
// durations — a chain (one VM's own steps), or a resource (endpoint, array, switch, target host) whose limit
// the advice names. Pure computation; deterministic for a seed. Thread-safety: none needed (no state).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "env/step.h"
#include "model/cloud.h"
#include "plan/capacity_check.h"

namespace revive::exec {

struct StepLatency {
  double median_s = 0.0;
  double spread = 0.0;  // sigma of the underlying normal; 0 = fixed
};

// Defaults are the simulation contract's (docs/scenario.md), detection as with `latency.detect: 5`.
struct RecoveryLatencies {
  StepLatency detect{5.0, 0.0};
  StepLatency fence{8.0, 0.2};
  StepLatency disk_unmap{2.0, 0.3};
  StepLatency disk_map{4.0, 0.3};
  StepLatency net_config{3.0, 0.3};
  StepLatency vm_start{60.0, 0.4};
  // 0..1: how much of a step's spread is the VM's habit rather than this run's noise (docs/scenario.md
  // `latency.repeatability`). Without a history the habit is unknown and drawn per run, once per VM and step
  // kind, so the disks of one VM map (and unmap) alike, as they do in the simulator and on real arrays.
  double repeatability = 0.8;
};

struct RecoveryTimeOptions {
  plan::CapacityCheckOptions failures;  // which failures (as `revive check`)
  RecoveryLatencies latencies;
  std::uint32_t samples = 64;  // scheduler runs per failure
  std::uint64_t seed = 1;
  // What the step-duration history knows (env::DurationEstimator): each VM's (a host's, for fences) expected
  // durations are the medians of its draws, and noise_spread the spread around them (the latency model's
  // spread where it does not say). Null: the latency model's medians and spreads, every VM alike. Must
  // outlive the call.
  const env::DurationEstimator* history = nullptr;
};

struct TierPrediction {
  std::uint32_t vms = 0;      // protected VMs of the tier on the failed hosts (by effective priority)
  std::uint32_t waiting = 0;  // of them, left waiting by the plan
  double p50_s = 0.0, p90_s = 0.0;
  double budget_s = 0.0;  // policy.rto_s of the tier; 0 = none
  bool breaks = false;    // budget set, and waiting > 0 or p90 > budget
};

struct FailurePrediction {
  std::string failure;  // "host-0007", "rack=r3", "host-0001+host-0002"
  std::vector<model::HostIndex> failed_hosts;
  std::array<TierPrediction, model::kPriorityCount> tiers{};
  std::string binding;  // what sets the lower bound at median durations
  std::string advice;   // what would shorten it (empty when a VM's own chain binds)
  bool breaks_budget = false;
};

struct RecoveryTimeReport {
  std::size_t failures_checked = 0;
  bool sampled = false;
  std::vector<FailurePrediction> failures;  // every failure checked, in the capacity check's order
  std::size_t breaking = 0;                 // failures with a tier over its budget
  double check_ms = 0.0;
};

RecoveryTimeReport predict_recovery_times(const model::Cloud& cloud, const RecoveryTimeOptions& options);

}  // namespace revive::exec
