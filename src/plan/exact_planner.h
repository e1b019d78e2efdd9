// Exact failover planning for small clouds: the placement that maximises the placed priority weight
// (model::priority_weight of each VM's effective priority) as a mixed-integer program solved by CBC. Used by
// `revive plan --exact` for operators who want the optimum, and by tests and bench/planner_quality_bench.cc
// to measure the heuristic planner's gap.
//
// Model: a binary x[vm][host] for every moving VM and every host it may run on (up, not failed / evacuated /
// excluded, arch of the VM's host, require_labels, networks, arrays, fits alone, no staying anti-affinity
// partner in that scope value, in the scope value of its staying affinity partners); per host, cpu and memory
// rows after overcommit; per anti-affinity group and scope value, at most one member placed there, and none
// while a waiting member of an evacuated host (which keeps running) is there; per affinity group, one scope
// value for all placed members, and a waiting member of an evacuated host pins it to its own; a VM whose
// `after` list names a VM of a failed host is placed only if that VM is (it could not start). Groups follow
// model::Cloud::scope_value; a host without the scope's label is a value of its own. Every other rule, the
// output format, start order and start_after are those of plan_failover (planner.h).
//
// Waiting VMs get "no feasible host: ..." with what ruled each host out, "waits for X (after), which is not
// placed", or "capacity taken by higher-weight VMs in the optimum". When the time limit stops CBC first, the
// best plan found is returned (every waiting VM is then re-tried greedily, so none waits that fits as the
// plan stands).
//
// Thread-safety: CBC's driver keeps global state, so calls are serialised internally (a mutex).
#pragma once

#include "model/cloud.h"
#include "plan/plan.h"
#include "plan/planner.h"

namespace revive::plan {

// Throws std::invalid_argument for indexes out of range. time_limit_s bounds CBC's search (wall time).
Plan plan_exact(const model::Cloud& cloud, const PlanRequest& request, double time_limit_s);

}  // namespace revive::plan
