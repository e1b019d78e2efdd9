// `revive simulate`: a recovery run by the real engine against the deterministic simulated cloud
// (../shared/spec/simulation.md): the summary on stdout, timeline.json and timeline.svg in --out.
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "exec/evacuation.h"
#include "model/inventory.h"
#include "plan/decision.h"
#include "plan/saved_plans.h"
#include "sim/scenario.h"
#include "sim/scenario_log.h"
#include "sim/simulation.h"
#include "sim/timeline_svg.h"

namespace revive::cli {
namespace {

struct SimulateOptions {
  std::string inventory;
  std::string scenario;
  std::string strategy = "revive";
  std::string out;
  std::string format = "json";
  std::string estimates = "history";
  std::string save_inputs;
  bool compare = false;
  std::string plans;  // saved prestaged plans the executor starts from
};

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw InputError(fmt::format("--out: cannot write {}", path.string()));
}

// Each strategy against the bounds of its own run (they agree unless replans moved VMs elsewhere).
void print_comparison(const std::vector<sim::SimulationResult>& results, std::ostream& out) {
  const auto& base = results.front();
  out << fmt::format("{:<18} {:>11} {:>9} {:>9} {:>10} {:>10} {:>9} {:>8}\n", "STRATEGY", "MAKESPAN_S",
                     "VS_BOUND", "VS_TIGHT", "SPEED-UP", "CRITICAL_S", "RESTARTED", "WAITING");
  auto versus = [](double makespan, double bound) {
    return bound > 0 ? fmt::format("{:.2f}x", makespan / bound) : std::string("-");
  };
  for (const auto& result : results) {
    auto critical = result.tier_done_s[0] ? fmt::format("{:.1f}", *result.tier_done_s[0]) : std::string("-");
    out << fmt::format("{:<18} {:>11.1f} {:>9} {:>9} {:>9.1f}x {:>10} {:>9} {:>8}\n",
                       exec::to_string(result.strategy), result.makespan_s,
                       versus(result.makespan_s, result.lower_bound_s),
                       versus(result.makespan_s, result.tight_bound_s),
                       result.makespan_s > 0 ? base.makespan_s / result.makespan_s : 0.0, critical,
                       result.restarted, result.waiting + result.failed);
  }
  const auto& last = results.back();
  if (last.bound_covers.empty()) {
    out << "lower bound: none (nothing was restarted or moved)\n";
    return;
  }
  out << fmt::format("lower bound: {:.1f} s (set by {}), tighter: {:.1f} s (set by {}); covers {}\n",
                     last.lower_bound_s, last.bound_binding, last.tight_bound_s, last.tight_binding,
                     last.bound_covers);
}

void run_simulate(const SimulateOptions& options) {
  if (options.format != "json" && options.format != "table" && options.format != "log") {
    throw InputError("--format: must be json, table or log, not '" + options.format + "'");
  }
  if (options.format == "log" && options.compare)
    throw InputError("--format log: one strategy, not --compare");
  // A recovery strategy name sets the recovery strategy, an evacuation one (sequential, fixed-8) the
  // evacuation strategy for `evacuate` events; revive is both.
  auto strategy = exec::parse_strategy(options.strategy);
  auto evacuation_strategy = exec::parse_evacuation_strategy(options.strategy);
  if (!strategy && !evacuation_strategy) {
    throw InputError(
        "--strategy: must be serial, parallel-restart, parallel, revive (recovery) or sequential, "
        "fixed-8 (evacuation), not '" +
        options.strategy + "'");
  }
  if (!strategy) strategy = exec::Strategy::revive;
  sim::SimulationOptions simulation;
  simulation.strategy = *strategy;
  simulation.evacuation_strategy = evacuation_strategy.value_or(exec::EvacuationStrategy::revive);
  if (options.estimates == "history") {
    simulation.estimates = sim::SimEstimator::Mode::history;
  } else if (options.estimates == "median") {
    simulation.estimates = sim::SimEstimator::Mode::median;
  } else if (options.estimates == "clairvoyant") {
    simulation.estimates = sim::SimEstimator::Mode::clairvoyant;
  } else {
    throw InputError("--estimates: must be history, median or clairvoyant, not '" + options.estimates + "'");
  }
  model::Cloud cloud = model::load_inventory_file(options.inventory);
  sim::Scenario scenario;
  try {
    scenario = sim::load_scenario_file(options.scenario, cloud);
  } catch (const sim::ScenarioError& e) {
    throw InputError(e.what());
  }
  auto saved_plans = std::make_shared<plan::SavedPlans>();
  if (!options.plans.empty()) {
    try {
      *saved_plans = plan::SavedPlans::load(options.plans, cloud);
    } catch (const std::invalid_argument& e) {
      throw InputError(e.what());
    }
    simulation.executor.saved_plan = [saved_plans](const model::Cloud& state,
                                                   const plan::PlanRequest& request) {
      return saved_plans->take(state, request);
    };
  }
  bool people = options.format == "table";
  if (people) {
    simulation.progress = [](const sim::SimulationProgress& progress) {
      std::cerr << fmt::format("  ... {:.0f} s simulated, {} of {} VMs running\n", progress.virtual_s,
                               progress.running, progress.recovering);
    };
  }

  std::size_t decisions = 0;
  if (!options.save_inputs.empty()) {
    // Every decision of the requested strategy's run, with its inputs, for `revive replay`.
    simulation.decision_observer = [&options, &decisions, chosen_strategy = *strategy,
                                    &simulation](const plan::Decision& decision) {
      if (simulation.strategy != chosen_strategy) return;
      try {
        plan::write_decision_file(options.save_inputs, ++decisions, decision);
      } catch (const std::runtime_error& e) {
        throw InputError(fmt::format("--save-inputs: {}", e.what()));
      }
    };
  }
  std::vector<exec::Strategy> strategies{*strategy};
  if (options.compare) {
    strategies = {exec::Strategy::serial, exec::Strategy::parallel_restart, exec::Strategy::parallel,
                  exec::Strategy::revive};
  }
  std::vector<sim::SimulationResult> results;
  try {
    for (auto each : strategies) {
      simulation.strategy = each;
      results.push_back(sim::run_simulation(cloud, scenario, simulation));
    }
  } catch (const sim::ScenarioError& e) {
    throw InputError(e.what());
  }
  // The requested strategy's run is the one reported and drawn.
  const auto& result = options.compare ? results.back() : results.front();
  const auto& chosen = *std::find_if(results.begin(), results.end(),
                                     [&](const sim::SimulationResult& r) { return r.strategy == *strategy; });
  (void)result;

  if (!options.out.empty()) {
    std::filesystem::path dir(options.out);
    std::error_code error;
    std::filesystem::create_directories(dir, error);
    if (error) throw InputError(fmt::format("--out: cannot create {}: {}", dir.string(), error.message()));
    write_file(dir / "timeline.json", sim::timeline_json(cloud, chosen).dump(1) + "\n");
    write_file(dir / "timeline.svg", sim::timeline_svg(cloud, scenario, chosen));
  }
  if (people) {
    std::cout << sim::summary_table(cloud, chosen);
    if (options.compare) {
      std::cout << "\n";
      print_comparison(results, std::cout);
    }
    if (!options.out.empty()) {
      std::filesystem::path dir(options.out);
      std::cout << fmt::format("\ntimeline: {}, Gantt chart: {}\n",
                               (dir / "timeline.json").lexically_normal().string(),
                               (dir / "timeline.svg").lexically_normal().string());
    }
  } else if (options.format == "log") {
    std::cout << sim::scenario_log(cloud, scenario, chosen);
  } else if (options.compare) {
    auto all = nlohmann::ordered_json::array();
    for (const auto& each : results) all.push_back(sim::summary_json(each));
    std::cout << all.dump() << "\n";
  } else {
    std::cout << sim::summary_json(chosen).dump() << "\n";
  }
  if (!options.plans.empty()) {
    std::cerr << fmt::format("revive: {} planning round{} started from a saved plan of {}",
                             saved_plans->used(), saved_plans->used() == 1 ? "" : "s", options.plans);
    if (saved_plans->rejected() > 0) {
      std::cerr << fmt::format("; {} set aside ({})", saved_plans->rejected(), saved_plans->last_rejection());
    }
    std::cerr << "\n";
  }
  int status = kExitOk;
  for (const auto& each : results) {
    if (!each.violations.empty()) {
      std::cerr << fmt::format("revive: {} strategy broke {} invariant(s):\n", exec::to_string(each.strategy),
                               each.violations.size());
      for (const auto& violation : each.violations) std::cerr << "  " << violation << "\n";
      status = kExitInvariantBroken;
    }
  }
  if (status == kExitOk && chosen.fencing_held()) {
    for (const auto& host : chosen.lost_hosts) {
      if (host.outcome != sim::LostHostOutcome::fencing_held) continue;
      std::cerr << fmt::format("revive: fencing of {} held back ({} protected VM{} not recovered): {}\n",
                               host.name, host.vms_held, host.vms_held == 1 ? "" : "s", host.reason);
    }
    status = kExitFencingHeld;
  }
  if (status == kExitOk && chosen.running_at_deadline > 0) {
    std::cerr << fmt::format("revive: {} VM{} still ran on a drained host at its deadline\n",
                             chosen.running_at_deadline, chosen.running_at_deadline == 1 ? "" : "s");
    status = kExitDrainMissedDeadline;
  }
  if (status == kExitOk && chosen.waiting + chosen.failed > 0) status = kExitNotAllPlaced;
  set_exit_status(status);
}

}  // namespace

void add_simulate_commands(CLI::App& app) {
  auto options = std::make_shared<SimulateOptions>();
  auto* simulate = app.add_subcommand(
      "simulate",
      "Simulate a recovery: the real engine against a deterministic simulated cloud, on a virtual clock");
  simulate->add_option("--inventory", options->inventory, "Inventory file (YAML)")->required();
  simulate->add_option("--scenario", options->scenario, "Scenario file (YAML): seed, latencies, events")
      ->required();
  simulate->add_option("--strategy", options->strategy,
                       "serial | parallel-restart | parallel | revive (default)");
  simulate->add_option("--out", options->out, "Directory for timeline.json and timeline.svg");
  simulate->add_option("--format", options->format,
                       "json (default: the summary object) | table (for people) | log (the event log, "
                       "time-ordered, as tests/scenarios/*/expected.log hold it)");
  simulate->add_option(
      "--estimates", options->estimates,
      "What the scheduler knows of step durations: history (default: each VM's habit, as "
      "earlier recoveries teach it, not this run's noise) | median (the latency medians only) | "
      "clairvoyant (this run's own draws: for analysis only)");
  simulate->add_option("--save-inputs", options->save_inputs,
                       "Directory: write every placement decision of the run with its inputs "
                       "(decision-NNNNNN-ENGINE.json), for revive replay");
  simulate->add_flag(
      "--compare", options->compare,
      "Run all four strategies on the same plan and durations and compare them (the --strategy "
      "run is the one written to --out)");
  simulate->add_option("--plans", options->plans,
                       "Saved prestaged plans (revive plan --precompute --save FILE): a failure matching one "
                       "starts from it, if it still holds");
  simulate->callback([options] { run_simulate(*options); });
}

}  // namespace revive::cli
