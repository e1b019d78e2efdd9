// A fast what-if run of the executor's list scheduler on estimated durations, used by the revive strategy to
// choose deadlines that bring the makespan to the bound: run the schedule, pull the deadlines of the VMs that
// finish after the target earlier by how late they are, repeat (a few to a few dozen passes).
//
// The model mirrors the dispatcher: per resource a queue ordered by (deadline, priority, longer chain,
// order); a VM's disk unmaps and net_config are released when its source is declared failed (release_s),
// each map follows its unmap, the start follows its source's fence (fence_s), every map, the net_config and
// the VMs it starts after, and takes a slot of its endpoint and of its target host. Pure computation, no I/O;
// O(steps log steps) per pass.
#pragma once

#include <cstdint>
#include <vector>

namespace revive::exec {

struct DryDisk {
  std::uint32_t resource = 0;  // the array's resource id
  double unmap_s = 0.0;        // 0 with needs_unmap = false: nothing to unmap
  double map_s = 0.0;
  bool needs_unmap = true;
  bool needs_map = true;
};

struct DryVm {
  double release_s = 0.0;  // when its disk and network steps may begin (its source declared failed)
  double fence_s = 0.0;    // when its source host is (expected to be) fenced: its start waits for it
  std::uint8_t priority = 0;
  double chain_s = 0.0;  // preparation + start, for tie-breaking
  std::uint64_t order = 0;
  std::vector<DryDisk> disks;
  std::uint32_t net_resource = UINT32_MAX;  // UINT32_MAX: no net_config
  double net_s = 0.0;
  std::uint32_t start_resource = 0;
  std::uint32_t start_host = 0;  // index into the host limits
  double start_s = 0.0;
  std::vector<std::uint32_t> after;  // indexes of VMs (in the same run) whose start must finish first
  // Slack the repair keeps after this VM's projected finish (robustness: estimates are not this run's
  // durations, and a long start overruns by more seconds than a short one). 0: aim at the target exactly.
  double margin_s = 0.0;
};

class DryRun {
 public:
  // `capacity[r]` per resource id; `host_limit` concurrent starts per target host.
  DryRun(std::vector<std::uint32_t> capacity, std::uint32_t host_limit, std::uint32_t host_count);

  // Finish time of every VM's start under `deadlines` (infinity for VMs that never start, e.g. after-cycles).
  std::vector<double> finish_times(const std::vector<DryVm>& vms, const std::vector<double>& deadlines) const;

  // The latest moment each VM's chain may begin for every step to end by `target_s` (less its margin_s)
  // at each resource taken alone: per resource, a backward list schedule from the target (the step with the
  // latest due placed first, as late as it fits; among equal dues the shortest last, so a resource that
  // binds serves its long steps first and leaves the short ones for the end, where this run's noise falls),
  // a start due at the target, a net_config or map due when its start is due, an unmap when its map is. A
  // VM's latest begin is the earliest of its steps' latest starts less what precedes them in its chain.
  // Ignores `after` and releases (the repair sees those). Deadlines for a resource that binds, whichever.
  std::vector<double> latest_begins(const std::vector<DryVm>& vms, double target_s) const;

  // Deadlines repaired toward `target_s`: starting from `base`, VMs that would finish (plus their margin_s)
  // later than the target get their deadline pulled earlier by their lateness, never below `floor[v]`.
  // Returns the deadlines of the best pass (smallest projected makespan, margins included);
  // `projected_makespan_s` receives it.
  std::vector<double> repair(const std::vector<DryVm>& vms, const std::vector<double>& base,
                             const std::vector<double>& floor, double target_s, int max_passes,
                             double* projected_makespan_s = nullptr) const;

 private:
  std::vector<std::uint32_t> capacity_;
  std::uint32_t host_limit_;
  std::uint32_t host_count_;
};

}  // namespace revive::exec
