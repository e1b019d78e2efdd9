// A placement decision of an engine with all its inputs, like Pacemaker's saved scheduler inputs: the cloud
// as the engine saw it (hosts' states, where each VM is), the request (failed, drained, excluded hosts, the
// VMs to move), the planner's options and the event that triggered it, and the plan it decided. Saved as one
// JSON file (decision_json), replayed offline (`revive replay FILE`: replay_decision) to the same plan byte
// for byte: the planner is a pure function of these inputs.
//
// File (version 1): {"version": 1, "engine": "recovery" | "evacuation" | ..., "trigger": "...", "at_s": N,
//   "inventory": "<the view as an inventory file>", "request": {"failed_hosts": [names], "evacuated_hosts",
//   "excluded_hosts", "only_vms": [names]}, "planner": {exact, exact_time_limit_s, repair_attempts,
//   improvement_passes, spread_over_endpoints}, "plan": <plan JSON without its wall time>}.
// Thread-safety: value types and pure functions.
#pragma once

#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "model/cloud.h"
#include "plan/plan.h"
#include "plan/planner.h"

namespace revive::plan {

// One decision as an engine makes it; every reference lives for the call that reports it only.
struct Decision {
  std::string_view engine;   // recovery, evacuation, evacuation-retry, fail-back, plan
  std::string_view trigger;  // what made the engine decide, for people ("hosts failed: host-0003", ...)
  double at_s = 0.0;         // on the engine's clock
  const model::Cloud& view;
  const PlanRequest& request;
  const PlannerOptions& options;
  const Plan& plan;
};
using DecisionObserver = std::function<void(const Decision&)>;

// The plan as the decision file holds it (no wall time: plan_ms 0), one JSON text.
std::string plan_text(const model::Cloud& cloud, const Plan& plan);

nlohmann::ordered_json decision_json(const Decision& decision);

// Writes decision_json to DIRECTORY/decision-NNNNNN-ENGINE.json (index zero-padded, the directory created);
// returns the path. Throws std::runtime_error when it cannot be written.
std::string write_decision_file(const std::string& directory, std::size_t index, const Decision& decision);

class DecisionFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Replayed {
  std::string saved_plan;     // plan_text as saved
  std::string replayed_plan;  // plan_text of the plan computed again from the saved inputs
  bool same() const { return saved_plan == replayed_plan; }
};

// Reads a decision file's JSON and plans again from its inputs. Throws DecisionFileError naming the field at
// fault (`file`: for messages).
Replayed replay_decision(const nlohmann::json& decision, std::string_view file);

}  // namespace revive::plan
