// A failover or evacuation plan: for every protected VM of the moving hosts, its target host or the reason it
// waits. Plans are data: computed by the planner in one pass, saved as JSON (../shared/spec/plan.md),
// replayed by the executor. Thread-safety: a value type.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/cloud.h"

namespace revive::plan {

struct Placement {
  model::VmIndex vm = model::kNoIndex;
  model::HostIndex from = model::kNoIndex;
  model::HostIndex to = model::kNoIndex;
  // Priority after inheritance through `after` dependencies (never lower than the VM's own).
  model::Priority effective_priority = model::Priority::medium;
  // VMs that must be ready before this one starts (its `after` list, those that are also moving or running).
  std::vector<model::VmIndex> start_after;
  // The planner moved it off the host it first chose, to spread restarts over management endpoints (not in
  // the JSON: --explain reads it from the plan just computed).
  bool spread_over_endpoints = false;
};

struct Waiting {
  model::VmIndex vm = model::kNoIndex;
  model::HostIndex from = model::kNoIndex;
  model::Priority effective_priority = model::Priority::medium;
  std::string reason;  // a sentence a person can act on
};

struct Plan {
  std::vector<model::HostIndex> failed_hosts;     // crashed: VMs restart elsewhere
  std::vector<model::HostIndex> evacuated_hosts;  // draining: VMs move while their source still runs
  std::vector<Placement> placements;              // in start order: higher effective priority first
  std::vector<Waiting> waiting;
  double plan_ms = 0.0;  // wall time the planner took

  bool all_placed() const { return waiting.empty(); }
};

// The JSON of ../shared/spec/plan.md.
nlohmann::json to_json(const model::Cloud& cloud, const Plan& plan);

// Reads a plan written by to_json back against `cloud` (names resolved to indices; `stats` ignored, plan_ms
// 0). Throws std::invalid_argument naming the field ("placements[2].to: unknown host \"h9\"", prefixed by
// `field`) for anything that is not such a plan. Whether the plan still holds for the cloud is
// find_plan_violations' question (plan/plan_checker.h), not this one's.
Plan plan_from_json(const model::Cloud& cloud, const nlohmann::json& json, const std::string& field = "");

}  // namespace revive::plan
