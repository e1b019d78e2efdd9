// A failover or evacuation plan: for every protected VM of the moving hosts, its target host or the reason it
// waits. Plans are data: computed by the planner in one pass, saved as JSON (../shared/spec/plan.md),
// replayed by the executor. Thread-safety: a value type.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/cloud.h"

namespace revive::plan {

// How the planner chose a placement's target (for --explain: what the planner did, not a guess).
enum class Choice : std::uint8_t {
  least_loaded,  // spreading pass: the least loaded feasible host, within the best rank (spares, labels)
  most_loaded,   // packing pass (kept when it placed more priority weight): the most loaded feasible host
  // As the two above, among hosts with room for the moving members of its affinity group still to come.
  group_room_least_loaded,
  group_room_most_loaded,
  repair,           // no feasible host had room: a VM planned on this host was moved elsewhere or gave way
  moved_by_repair,  // moved off its first host to make room there for another VM (the best host but that)
  exact,            // the exact solver (CBC), maximising placed priority weight
  saved,            // read from a saved plan (plan_from_json), which does not record how
};

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
  // How the target was chosen, and its load (max of cpu and memory use) just before (not in the JSON).
  Choice choice = Choice::least_loaded;
  double load_when_chosen = 0.0;
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
