// The lower bound on a recovery's makespan (../shared/spec/simulation.md): the largest of
//  - every VM's chain: its source host's fence completion + the longest of its disk unmap+map pairs and its
//    net_config (when the target has a switch) + its start;
//  - every resource scope (each array, switch, endpoint, target host, and the global limit if any) with limit
//    L and n steps of durations d1 <= ... <= dn: r + max(sum(d) / L, d1 + ... + d_ceil(n/L)), where r is the
//    earliest moment the first of them could begin: the earliest fence completion among the scope's VMs, and
//    for starts plus the shortest preparation among them.
// The simulator evaluates it with the true (attempt 0) durations for its report; the executor evaluates it
// with its estimates to know how much slack each VM has. Pure function, no I/O.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "env/step.h"
#include "model/cloud.h"

namespace revive::exec {

struct BoundVm {
  model::VmIndex vm = model::kNoIndex;
  model::HostIndex to = model::kNoIndex;
  double fence_done_s = 0.0;  // when the VM's source host is (or is expected to be) fenced
};

struct LowerBound {
  double value_s = 0.0;
  std::string binding;  // what sets it: "chain of vm-1", "array array-a", "endpoint mgmt-1", ...
};

// `duration(kind, vm, disk)` gives each step's duration in seconds.
using DurationFunction = std::function<double(env::StepKind, model::Index, model::DiskIndex)>;

// The preparation of a VM before its start: the longest unmap+map pair of its disks, or its net_config when
// `to` has a switch, whichever is longer.
double preparation_s(const model::Cloud& cloud, model::VmIndex vm, model::HostIndex to,
                     const DurationFunction& duration);

LowerBound lower_bound(const model::Cloud& cloud, const std::vector<BoundVm>& vms,
                       const DurationFunction& duration, std::uint32_t global_max_parallel = 0);

// One scope's term: r + max(sum / limit, sum of the ceil(n / limit) smallest). `durations` is reordered.
double scope_bound(double ready_s, std::vector<double>& durations, std::uint32_t limit);

}  // namespace revive::exec
