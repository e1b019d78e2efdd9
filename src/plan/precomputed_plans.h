// Prestaged failover plans: one per single-host failure and one per failure-domain value (each value of the
// `rack` label, or of any label key given), so that a failure matching one of them needs no planning at all.
// Kept current incrementally: after a model change only the plans that touch the changed hosts or VMs are
// recomputed (plans of the hosts involved, plans that target them, plans whose waiting VMs would fit in the
// room a moved VM left, plans moving a
// group-mate of a moved VM). Unaffected plans stay valid (feasible) though a fresh computation might now
// spread load slightly differently. Thread-safety: none. Holds a reference to the cloud; the caller mutates
// it, then reports the change.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "model/cloud.h"
#include "plan/plan.h"
#include "plan/planner.h"

namespace revive::plan {

class PlacementEngine;

struct PrestagedPlan {
  std::string name;  // "host-0007" or "rack=r3"
  PlanRequest request;
  Plan plan;
};

class PrecomputedPlans {
 public:
  // Computes every plan now: one per host that is up, one per value of each key in `domain_keys`.
  PrecomputedPlans(const model::Cloud& cloud, const std::vector<model::Symbol>& domain_keys,
                   const PlannerOptions& options = {});
  ~PrecomputedPlans();
  PrecomputedPlans(const PrecomputedPlans&) = delete;
  PrecomputedPlans& operator=(const PrecomputedPlans&) = delete;

  const std::vector<PrestagedPlan>& plans() const { return plans_; }
  // The prestaged plan whose failed hosts are exactly `failed_hosts` (any order), or nullptr.
  const PrestagedPlan* find(std::vector<model::HostIndex> failed_hosts) const;

  // cloud.vms[vm].host changed from `previous_host`. Returns how many plans were recomputed.
  std::size_t on_vm_moved(model::VmIndex vm, model::HostIndex previous_host);
  // A host's state changed (up, maintenance, down). Returns how many plans were recomputed.
  std::size_t on_host_changed(model::HostIndex host);

 private:
  void compute(std::size_t entry);
  std::size_t recompute(std::vector<std::size_t> entries);

  const model::Cloud& cloud_;
  PlannerOptions options_;
  std::unique_ptr<PlacementEngine> engine_;
  std::vector<PrestagedPlan> plans_;
  std::vector<std::vector<std::size_t>> plans_failing_host_;    // host -> plans in which it fails
  std::vector<std::vector<std::size_t>> plans_targeting_host_;  // host -> plans that place VMs on it
};

}  // namespace revive::plan
