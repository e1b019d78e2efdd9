// Prestaged plans saved to a file and used later: `revive plan --precompute --save FILE` writes them, and
// `revive plan --plans FILE`, `revive simulate --plans FILE` (the executor, through
// ExecutorOptions::saved_plan) start from the one whose failed hosts match, after checking that it still
// holds for the cloud as it is then (plan/plan_checker.h); a plan that no longer holds is set aside and the
// failure planned afresh. File: {"version": 1, "plans": [{"name", ...the plan JSON of
// ../shared/spec/plan.md}], "stats": {...}}. Thread-safety: none (one owner; the executor calls it on its
// loop).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/cloud.h"
#include "plan/plan.h"
#include "plan/planner.h"
#include "plan/precomputed_plans.h"

namespace revive::plan {

// The saved-plans document of `plans` (what --save writes; also `revive plan --precompute --format json`).
nlohmann::json saved_plans_json(const model::Cloud& cloud, const PrecomputedPlans& plans,
                                double precompute_ms);

class SavedPlans {
 public:
  // Reads `path` against `cloud`. Throws std::invalid_argument "PATH: field: what is wrong" for a file that
  // cannot be read or is not a saved-plans document naming hosts and VMs of `cloud`.
  static SavedPlans load(const std::string& path, const model::Cloud& cloud);

  // The saved plan whose failed hosts are exactly request.failed_hosts (any order), if it still holds for
  // `state` and `request` (no violation); nullopt otherwise (none saved, or set aside: see last_rejection()).
  std::optional<Plan> take(const model::Cloud& state, const PlanRequest& request);

  std::size_t size() const { return plans_.size(); }
  std::size_t used() const { return used_; }          // plans handed out
  std::size_t rejected() const { return rejected_; }  // matching plans that no longer held
  // "plan host-0003 no longer holds: <first violation>", empty when none was rejected.
  const std::string& last_rejection() const { return last_rejection_; }

 private:
  struct Entry {
    std::string name;
    std::vector<model::HostIndex> failed_sorted;
    Plan plan;
  };
  std::vector<Entry> plans_;
  std::size_t used_ = 0, rejected_ = 0;
  std::string last_rejection_;
};

}  // namespace revive::plan
