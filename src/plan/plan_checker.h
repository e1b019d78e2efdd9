// An independent check of a failover/evacuation plan against the cloud it was made for: written apart from
// the planner (it shares no code with planner.cc or exact_planner.cc), so tests can trust it to catch the
// planner's mistakes, and operators can verify a saved or precomputed plan still holds before replaying it.
//
// find_plan_violations returns one readable sentence per problem, empty when the plan is sound:
// - coverage: every protected VM of the failed and evacuated hosts (or of request.only_vms when given) is in
//   exactly one of placements / waiting; no protect:false VM and no other VM is in either; `from` is the VM's
//   host; effective_priority is as computed here; every waiting VM has a reason.
// - hard constraints on each target: up, not failed / evacuated / excluded, arch of the VM's current host,
//   every require_label, every network, every disk's array, not a reserved host for a VM of an evacuated host
//   (unless policy.spares.maintenance); cpu and memory within overcommit counting the VMs
//   that stay and every placement (VMs of failed hosts and VMs that move away no longer count).
// - groups over the final placement of all members: placed VMs at their target, waiting VMs of evacuated
// hosts
//   at their source (they keep running there), VMs of failed hosts that are not placed nowhere, every other
//   VM where it is. Only problems involving a placed VM are reported (the planner cannot fix what it did not
//   move). Scope values as model::Cloud::scope_value; a host without the scope's label is a value of its own.
// - order: placements by effective priority, most important first; start_after holds exactly the `after` VMs
//   that are placed in this plan, possibly also `after` VMs that are not, each placed one earlier in the
//   list.
// - maximality and priority: a waiting VM must not fit (every hard constraint) on any host as the plan leaves
//   it, nor on the target of a placed VM of strictly lower effective priority once that VM is taken out
//   ("priority inversion"). Exempt: a waiting VM with an `after` VM that will run nowhere (it could not
//   start). An affinity group binds only the members that run, so a member that fits alone must not wait
//   because its partners do not fit.
//
// Cost: O(placements + waiting x (hosts + placements) x group sizes); meant for tests and for checking a plan
// before it is replayed, not for the planner's inner loop. Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "model/cloud.h"
#include "plan/plan.h"
#include "plan/planner.h"

namespace revive::plan {

std::vector<std::string> find_plan_violations(const model::Cloud& cloud, const PlanRequest& request,
                                              const Plan& plan);

// Effective priority of every VM computed independently of the planner: its own, lifted to the highest
// priority of any VM that waits for it, directly or transitively, through `after`.
std::vector<model::Priority> independent_effective_priorities(const model::Cloud& cloud);

// Sum of priority_weight(effective priority) over the placed VMs, with independent_effective_priorities.
double placed_priority_weight(const model::Cloud& cloud, const Plan& plan);

}  // namespace revive::plan
