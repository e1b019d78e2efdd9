// The failover planner: a pure function from a cloud snapshot and the hosts that fail (or are drained) to a
// Plan. One pass over all moving VMs, so every constraint holds across them (two members of an anti-affinity
// group never land together even though they move at the same time). No I/O, deterministic: the same input
// gives the same plan.
//
// Constraints (../shared/spec/inventory.md): target up and not moving, same arch, every require_label, every
// network, every disk's array reachable, cpu and memory within overcommit, groups over the final placement of
// all members (moving or not), reserved hosts as policy.spares says (last; drains only with maintenance:
// true), protect:false VMs never planned.
// Order: effective priority (own, lifted by `after` inheritance), then larger VMs first; affinity groups as
// one. Thread-safety: plan_failover is reentrant; it reads the cloud only.
#pragma once

#include <vector>

#include "model/cloud.h"
#include "plan/plan.h"

namespace revive::plan {

struct PlanRequest {
  std::vector<model::HostIndex> failed_hosts;     // crashed hosts: their protected VMs restart elsewhere
  std::vector<model::HostIndex> evacuated_hosts;  // hosts being drained: their protected VMs move off
  // When non-empty, only these VMs move (replanning after a step failed for good or a target died); every
  // other VM stays where cloud.vms[v].host says. When empty, every protected VM of the hosts above moves.
  std::vector<model::VmIndex> only_vms;
  // Hosts that must not receive VMs (besides failed and evacuated ones), e.g. targets that failed
  // mid-recovery.
  std::vector<model::HostIndex> excluded_hosts;
};

struct PlannerOptions {
  bool exact = false;  // solve as a MIP with CBC (small clouds): maximise placed priority weight
  double exact_time_limit_s = 30.0;
  int repair_attempts = 64;  // bounded repair (move/swap a smaller placed VM) per VM before it waits
  // When VMs wait: at most this many extra passes, each with one waiting VM moved up its priority class
  // (PlacementEngine's improvement phase); 0 turns the phase off.
  int improvement_passes = 32;
  // Spread restarts over management endpoints (PlacementEngine's last phase): move planned restarts off the
  // endpoint with the most starts per max_parallel slot to feasible hosts behind less loaded endpoints.
  bool spread_over_endpoints = true;
};

// Throws std::invalid_argument for indexes out of range.
Plan plan_failover(const model::Cloud& cloud, const PlanRequest& request, const PlannerOptions& options = {});

// Effective priority of every VM: its own, lifted to that of any VM that (transitively) waits for it via
// `after`.
std::vector<model::Priority> effective_priorities(const model::Cloud& cloud);

}  // namespace revive::plan
