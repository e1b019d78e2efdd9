// Capacity check (admission control): which failures would leave protected VMs waiting. Checks every single
// host, every value of each failure-domain key, and with tolerate = N every set of N hosts — all of them when
// there are at most `max_combinations` sets, otherwise `samples` sets drawn deterministically from `seed`
// (documented in docs/cli.md). Pure: reads the cloud only.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/cloud.h"
#include "plan/plan.h"

namespace revive::plan {

struct CapacityCheckOptions {
  int tolerate = 1;                        // size of host sets to fail together
  std::vector<model::Symbol> domain_keys;  // label keys whose every value is failed as one
  std::uint64_t max_combinations = 20000;  // above this many N-sets, sample instead of enumerating
  std::uint64_t samples = 2000;
  std::uint64_t seed = 1;
};

struct CapacityShortfall {
  std::string failure;  // "host-0007", "rack=r3", "host-0001+host-0002"
  std::vector<model::HostIndex> failed_hosts;
  int waiting_by_priority[model::kPriorityCount] = {0, 0, 0, 0};  // by effective priority
  double waiting_cpus = 0;                                        // vCPU the waiting VMs need
  double waiting_memory_mib = 0;                                  // memory they need
  double largest_waiting_memory_mib = 0;
  Plan plan;
};

struct CapacityReport {
  std::size_t failures_checked = 0;
  bool sampled = false;  // the N-sets were sampled, not enumerated
  std::vector<CapacityShortfall> shortfalls;
  double check_ms = 0;
};

CapacityReport check_capacity(const model::Cloud& cloud, const CapacityCheckOptions& options);

// Calls `visit(name, failed_hosts)` for every failure the check considers, in its order (single hosts, then
// N-sets, then failure-domain values). Returns whether the N-sets were sampled.
bool for_each_failure(const model::Cloud& cloud, const CapacityCheckOptions& options,
                      const std::function<void(std::string, std::vector<model::HostIndex>)>& visit);

}  // namespace revive::plan
