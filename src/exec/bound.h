// Lower bounds on a recovery's makespan (../shared/spec/simulation.md, "lower_bound_s"). For a set of VMs
// restarted on given targets, no schedule of them finishes before:
//  - every VM's chain: the later of its source's fence completion and (its source's declaration + its
//    preparation: the longest unmap+map pair of its disks, or its net_config when the target has a switch),
//    then the later of that and the end of the chain of every VM of its `after` list, + its start. Disk and
//    network steps may begin at the declaration (unmapping a failed host's disks is itself a fence); only the
//    start waits for the fence;
//  - every resource scope (each array, switch, endpoint, target host, and the global limit if any) with limit
//    L and n steps of durations d1 <= ... <= dn: r + max(sum(d) / L, d1 + ... + d_ceil(n/L)), r the earliest
//    moment the first of them could begin (disk and network steps: the earliest declaration; starts: the
//    later of the earliest fence completion and the earliest declaration + the shortest preparation).
// That is `spec_s`. `tight_s` is a bound too and never below it (it is what the scheduler aims for and what
// the simulator prints beside it): per scope it also takes each later release r' with the steps released at
// or after r' alone (r' + their sum / L: a host failing later adds its work from its own declaration), lets
// a map begin no earlier than its unmap could end, lets a start begin no earlier than its own chain allows,
// and adds the shortest tail that must follow the scope's last step (a disk step or net_config is followed by
// its VM's start, an unmap by its map too) -- the spec's scope term ignores that the last map on an array
// still has a start after it, which is where it is loosest when one array binds.
// Pure functions, no I/O.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "env/step.h"
#include "model/cloud.h"

namespace revive::exec {

struct BoundVm {
  model::VmIndex vm = model::kNoIndex;
  model::HostIndex to = model::kNoIndex;
  double declared_s = 0.0;    // when its source host was (is expected to be) declared failed
  double fence_done_s = 0.0;  // when its source host is (expected to be) fenced: its start waits for it
  std::vector<std::uint32_t> after;  // indexes (into the same list) of VMs whose running its start waits for
};

struct LowerBound {
  double spec_s = 0.0;        // the spec's formula
  double tight_s = 0.0;       // >= spec_s, still a bound (header comment)
  std::string spec_binding;   // what sets spec_s: "chain of vm-1", "array array-a", "endpoint mgmt-1", ...
  std::string tight_binding;  // what sets tight_s
};

// `duration(kind, vm, disk)` gives each step's duration in seconds.
using DurationFunction = std::function<double(env::StepKind, model::Index, model::DiskIndex)>;

// The preparation of a VM before its start: the longest unmap+map pair of its disks, or its net_config when
// `to` has a switch, whichever is longer.
double preparation_s(const model::Cloud& cloud, model::VmIndex vm, model::HostIndex to,
                     const DurationFunction& duration);

// Cycles in `after` are ignored (the edge that closes one is dropped: such VMs never start anyway).
LowerBound lower_bound(const model::Cloud& cloud, const std::vector<BoundVm>& vms,
                       const DurationFunction& duration, std::uint32_t global_max_parallel = 0);

// One scope's term of the spec: r + max(sum / limit, sum of the ceil(n / limit) smallest). `durations` is
// reordered.
double scope_bound(double ready_s, std::vector<double>& durations, std::uint32_t limit);

}  // namespace revive::exec
