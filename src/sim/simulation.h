// One simulated recovery, end to end: the real executor and planner against the simulated world of a
// scenario, on a virtual clock; then the outcome measured against the world's true state (not the engine's
// beliefs) and the spec's outputs (../shared/spec/simulation.md): the summary, timeline.json and its Gantt
// chart. Deterministic: the same cloud, scenario and options give the same result (but wall_ms).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/controller.h"
#include "exec/evacuation.h"
#include "exec/executor.h"
#include "model/cloud.h"
#include "sim/scenario.h"
#include "sim/world.h"

namespace revive::sim {

struct SimulationProgress {
  double virtual_s = 0.0;
  std::size_t running = 0;     // VMs recovered so far
  std::size_t recovering = 0;  // VMs the executor took charge of
};

struct SimulationOptions {
  exec::Strategy strategy = exec::Strategy::revive;
  SimEstimator::Mode estimates = SimEstimator::Mode::history;
  exec::ExecutorOptions executor;  // its strategy is replaced by `strategy`
  // For `evacuate` events (exec/evacuation.h); its migration parameters and cold-move durations come from
  // the scenario.
  exec::EvacuationStrategy evacuation_strategy = exec::EvacuationStrategy::revive;
  exec::EvacuationOptions evacuation;
  // Called now and then during long runs (about every 20,000 simulated callbacks).
  std::function<void(const SimulationProgress&)> progress;
  // Called with every placement decision of the engines and its inputs (at_s on the virtual clock).
  plan::DecisionObserver decision_observer;
};

// What became of a host the scenario took down (crashed or isolated), as the engine decided it.
enum class LostHostOutcome : std::uint8_t {
  fenced,  // declared failed and fenced: its protected VMs were recovered (or wait, with reasons)
  declared_not_fenced,  // declared failed, never fenced (the reason says why)
  isolated_left_alone,  // judged isolated (lease alive): never declared, never fenced, its VMs left running
  fencing_held,         // declared failed by the detector but its fence held back (storm guard, disarmed,
                        // fence rate limit): a decision, its VMs not recovered
};
std::string_view to_string(LostHostOutcome outcome);

struct LostHostReport {
  model::HostIndex host = model::kNoIndex;
  std::string name;
  std::string lost;                       // what the scenario did to it: "crash" (at some point) or "isolate"
  std::vector<std::string> channels_cut;  // agent, hypervisor, storage: every channel it lost
  double lost_at_s = 0.0;                 // relative to the first event, like every time of the outputs
  std::optional<double> declared_at_s;    // handed to the executor as failed
  std::optional<double> fenced_at_s;      // its fence confirmed
  LostHostOutcome outcome = LostHostOutcome::fenced;
  std::string reason;          // why it was not fenced or was left alone; empty when fenced
  std::uint32_t vms_held = 0;  // fencing_held: its protected VMs not recovered because of the hold
};

// A protected VM that does not run at the end of the run, and why.
struct NotRunningVm {
  model::VmIndex vm = model::kNoIndex;
  std::string name;
  model::Priority priority = model::Priority::medium;
  // waiting, failed (the executor's states), held (its host's fence was held back by decision), or the
  // outcome of its evacuation (stopped, failed...) when only a drain took charge of it.
  std::string state;
  bool waiting_for_proof = false;  // a placement may exist; no proof yet that the old copy cannot run
  bool lost = false;               // a feasible placement existed at the end and no proof was missing: a bug
  std::string reason;
};

struct SimulationResult {
  exec::Strategy strategy = exec::Strategy::revive;
  double makespan_s = 0.0;  // first event -> last VM running
  // Lower bounds (exec/bound.h) of what this run did (the VMs it restarted or moved, on their targets): no
  // schedule of it ends earlier. lower_bound_s is the spec's formula, tight_bound_s a tighter bound (>= it).
  // Relative to the first event; 0 when nothing was restarted or moved.
  double lower_bound_s = 0.0;
  std::string bound_binding;  // which chain or scope sets lower_bound_s
  double tight_bound_s = 0.0;
  std::string tight_binding;
  std::string bound_covers;  // what the bounds cover, for people: "12 VMs restarted from 2 hosts ..."
  double estimated_bound_s = 0.0;
  std::uint32_t restarted = 0, evacuated = 0, waiting = 0, failed = 0, double_runs = 0, lost = 0;
  // Per priority tier (critical, high, medium, low): whether any VM of it was recovered, and when its last
  // VM became running (relative to the first event); nullopt when none of it ended running.
  std::array<bool, model::kPriorityCount> tier_present{};
  std::array<std::optional<double>, model::kPriorityCount> tier_done_s{};
  double wall_ms = 0.0;
  double first_event_s = 0.0;
  std::uint64_t callbacks = 0;
  std::size_t journal_records = 0;
  std::vector<std::string> journal_kinds;  // the kind of every journal record, in order
  std::vector<TimelineStep> timeline;
  std::vector<std::string> violations;  // invariants broken (empty on a correct run)
  std::vector<exec::VmReport> vms;
  std::vector<NotRunningVm> not_running;       // protected VMs that do not run at the end, in VM order
  std::vector<model::HostIndex> failed_hosts;  // hosts crashed or isolated by the scenario
  std::vector<LostHostReport> lost_hosts;      // one per host of failed_hosts, in that order
  bool fencing_held() const;                   // some lost host's fence was held back by decision
  // Evacuations (scenario `evacuate` events): what became of each VM of the drained hosts.
  bool has_evacuations = false;
  exec::EvacuationStrategy evacuation_strategy = exec::EvacuationStrategy::revive;
  std::vector<exec::EvacuationVmReport> evacuations;
  std::uint32_t migrated = 0, moved_cold = 0, stopped = 0, not_placed = 0, cancelled = 0,
                running_at_deadline = 0;
  std::uint32_t peak_migrations_per_host = 0;
  // The VMs that went cold, were not placed, failed, were cancelled or still ran at a deadline: {"vm",
  // "from", "outcome", "priority", "reason"} each, in VM order (part of the summary).
  nlohmann::ordered_json evacuation_reported = nlohmann::ordered_json::array();
  double peak_nic_utilisation = 0.0;  // fraction of the busiest NIC at its busiest (<= 1)
  // VM-level restarts (scenario `vm_crash` events) as the controller decided them, oldest first (loop clock).
  std::vector<control::VmRestart> vm_restarts;
  // Operators' `confirm_down` as the controller took them: accepted, or refused (the host was not declared
  // failed). Loop clock.
  struct Confirmation {
    double at_s = 0.0;
    model::HostIndex host = model::kNoIndex;
    bool accepted = false;
  };
  std::vector<Confirmation> confirmations;
};

// `evacuate` events drain their host from `at` with the deadline `at + deadline` (exec::Evacuator).
SimulationResult run_simulation(const model::Cloud& cloud, const Scenario& scenario,
                                const SimulationOptions& options = {});

// The stdout object of the spec, keys in the spec's order.
nlohmann::ordered_json summary_json(const SimulationResult& result);
// {"steps": [...]} of the spec, sorted by start time (then issue order).
nlohmann::ordered_json timeline_json(const model::Cloud& cloud, const SimulationResult& result);
// A summary for people (a few aligned lines).
std::string summary_table(const model::Cloud& cloud, const SimulationResult& result);

// Seconds rounded to the millisecond, as every output shows them.
double round_ms(double seconds);

}  // namespace revive::sim
