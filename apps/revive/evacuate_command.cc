// `revive evacuate`: drain hosts (maintenance or a predicted failure) before a deadline. With --simulate, the
// real evacuation engine runs against the deterministic simulated cloud (as `revive simulate` with one
// `evacuate` event per host at time 0) and reports the same outputs: the summary on stdout, timeline.json
// (with `migrate` steps: from, rounds, downtime) and timeline.svg in --out. Without --simulate there is
// nothing to act on yet (no real drivers in this build).
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include "cli.h"
#include "exec/evacuation.h"
#include "model/inventory.h"
#include "sim/scenario.h"
#include "sim/simulation.h"
#include "sim/timeline_svg.h"

namespace revive::cli {
namespace {

struct EvacuateOptions {
  std::string inventory;
  std::string hosts;
  double deadline_s = 0;
  std::string reason = "maintenance";
  bool simulate = false;
  std::string strategy = "revive";
  std::string out;
  std::string format = "json";
  std::uint64_t seed = 1;
  std::optional<double> exit_maintenance_at_s;  // the drained hosts leave maintenance then
  bool fail_back = false;                       // ... and their VMs go back
  std::optional<double> cancel_at_s;            // the evacuation is cancelled then
};

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw InputError(fmt::format("--out: cannot write {}", path.string()));
}

void run_evacuate(const EvacuateOptions& options) {
  if (!options.simulate) {
    throw InputError("--simulate is required: this build drives no real hypervisors yet");
  }
  if (options.format != "json" && options.format != "table") {
    throw InputError("--format: must be json or table, not '" + options.format + "'");
  }
  auto strategy = exec::parse_evacuation_strategy(options.strategy);
  if (!strategy) {
    throw InputError("--strategy: must be sequential, fixed-8 or revive, not '" + options.strategy + "'");
  }
  auto reason = exec::parse_evacuation_reason(options.reason);
  if (!reason) {
    throw InputError("--reason: must be maintenance or predicted-failure, not '" + options.reason + "'");
  }
  if (!(options.deadline_s > 0)) throw InputError("--deadline: must be > 0 seconds");
  model::Cloud cloud = model::load_inventory_file(options.inventory);

  sim::Scenario scenario;
  scenario.file = "(revive evacuate)";
  scenario.seed = options.seed;
  std::stringstream names(options.hosts);
  std::string name;
  std::vector<model::HostIndex> seen;
  while (std::getline(names, name, ',')) {
    if (name.empty()) throw InputError("--host: empty host name in '" + options.hosts + "'");
    auto host = cloud.find_host(name);
    if (host == model::kNoIndex) throw InputError("--host: no host named '" + name + "' in the inventory");
    if (std::find(seen.begin(), seen.end(), host) != seen.end()) continue;
    seen.push_back(host);
    sim::ScenarioEvent event;
    event.kind = sim::ScenarioEvent::Kind::evacuate;
    event.at_s = 0;
    event.hosts = {host};
    event.deadline_s = options.deadline_s;
    event.reason = options.reason;
    scenario.events.push_back(std::move(event));
  }
  if (scenario.events.empty()) throw InputError("--host: name at least one host");
  if (options.fail_back && !options.exit_maintenance_at_s) {
    throw InputError("--fail-back: only with --exit-maintenance-at");
  }
  auto add_operator_event = [&](sim::ScenarioEvent::Kind kind, const std::optional<double>& at_s,
                                const char* option) {
    if (!at_s) return;
    if (!(*at_s >= 0)) throw InputError(fmt::format("{}: must be >= 0 seconds", option));
    sim::ScenarioEvent event;
    event.kind = kind;
    event.at_s = *at_s;
    event.hosts = seen;
    event.fail_back = options.fail_back;
    scenario.events.push_back(std::move(event));
  };
  add_operator_event(sim::ScenarioEvent::Kind::exit_maintenance, options.exit_maintenance_at_s,
                     "--exit-maintenance-at");
  add_operator_event(sim::ScenarioEvent::Kind::cancel, options.cancel_at_s, "--cancel-at");
  std::stable_sort(scenario.events.begin(), scenario.events.end(),
                   [](const sim::ScenarioEvent& a, const sim::ScenarioEvent& b) { return a.at_s < b.at_s; });

  sim::SimulationOptions simulation;
  simulation.evacuation_strategy = *strategy;
  auto result = sim::run_simulation(cloud, scenario, simulation);

  if (!options.out.empty()) {
    std::filesystem::path dir(options.out);
    std::error_code error;
    std::filesystem::create_directories(dir, error);
    if (error) throw InputError(fmt::format("--out: cannot create {}: {}", dir.string(), error.message()));
    write_file(dir / "timeline.json", sim::timeline_json(cloud, result).dump(1) + "\n");
    write_file(dir / "timeline.svg", sim::timeline_svg(cloud, scenario, result));
  }
  if (options.format == "table") {
    std::cout << sim::summary_table(cloud, result);
  } else {
    std::cout << sim::summary_json(result).dump() << "\n";
  }
  int status = kExitOk;
  if (!result.violations.empty()) {
    std::cerr << fmt::format("revive: broke {} invariant(s):\n", result.violations.size());
    for (const auto& violation : result.violations) std::cerr << "  " << violation << "\n";
    status = kExitInvariantBroken;
  }
  if (status == kExitOk && result.running_at_deadline > 0) {
    std::cerr << fmt::format("revive: {} VM{} still ran on a drained host at its deadline\n",
                             result.running_at_deadline, result.running_at_deadline == 1 ? "" : "s");
    status = kExitDrainMissedDeadline;
  }
  if (status == kExitOk && result.not_placed + result.failed > 0) status = kExitNotAllPlaced;
  set_exit_status(status);
}

}  // namespace

void add_evacuate_command(CLI::App& app) {
  auto options = std::make_shared<EvacuateOptions>();
  auto* evacuate = app.add_subcommand(
      "evacuate",
      "Move every VM off hosts before a deadline (maintenance or a predicted failure), live where it can");
  evacuate->add_option("--inventory", options->inventory, "Inventory file (YAML)")->required();
  evacuate->add_option("--host", options->hosts, "Host(s) to drain, comma-separated")->required();
  evacuate->add_option("--deadline", options->deadline_s, "Seconds until the hosts must be empty")
      ->required();
  evacuate->add_option("--reason", options->reason,
                       "maintenance (default) | predicted-failure (urgent: cold moves start at once)");
  evacuate->add_flag("--simulate", options->simulate,
                     "Run against the deterministic simulated cloud (the only mode in this build)");
  evacuate->add_option(
      "--strategy", options->strategy,
      "sequential (one migration at a time) | fixed-8 (8 per host, FIFO) | revive (default)");
  evacuate->add_option("--out", options->out, "Directory for timeline.json and timeline.svg");
  evacuate->add_option("--format", options->format,
                       "json (default: the summary object) | table (for people)");
  evacuate->add_option("--seed", options->seed,
                       "Seed of the simulation (durations, dirty-rate jitter); default 1");
  evacuate->add_option("--exit-maintenance-at", options->exit_maintenance_at_s,
                       "Seconds after the start when the hosts leave maintenance (moves not begun are "
                       "cancelled)");
  evacuate->add_flag("--fail-back", options->fail_back,
                     "With --exit-maintenance-at: the VMs moved off go back to their hosts");
  evacuate->add_option("--cancel-at", options->cancel_at_s,
                       "Seconds after the start when the evacuation is cancelled (moves in flight finish)");
  evacuate->callback([options] { run_evacuate(*options); });
}

}  // namespace revive::cli
