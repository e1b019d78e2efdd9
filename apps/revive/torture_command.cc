// `revive torture` (randomized fault simulation: seeded hostile histories, every invariant checked, failing
// histories shrunk and replayable) and `revive replay FILE` (a saved placement decision planned again from
// its inputs).
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli.h"
#include "plan/decision.h"
#include "sim/torture.h"

namespace revive::cli {
namespace {

struct TortureCommandOptions {
  std::uint64_t seeds = 100;
  std::uint64_t first_seed = 1;
  unsigned jobs = 1;
  std::string format = "table";
  std::string save_failing;
  bool no_shrink = false;
  bool check_capacity = false;
  bool check_stalls = true;
  double max_recovery_s = 0.0;
  bool controller_restarts = false;
};

nlohmann::ordered_json verdict_json(const sim::SeedVerdict& verdict, const std::vector<std::string>& saved,
                                    const sim::TortureOptions& torture) {
  nlohmann::ordered_json item;
  item["seed"] = verdict.seed;
  item["history"] = verdict.description;
  item["crash"] = verdict.crash;
  item["violations"] = verdict.violations;
  item["events"] = verdict.events;
  item["shrunk_events"] = verdict.shrunk_events.size();
  item["shrunk_violations"] = verdict.shrunk_violations;
  item["replay"] = sim::replay_command(verdict.seed, torture.histories, torture.checks);
  item["saved"] = saved;
  return item;
}

void run_torture_command(const TortureCommandOptions& options) {
  if (options.seeds == 0) throw InputError("--seeds: must be >= 1");
  if (options.jobs == 0 || options.jobs > 256) throw InputError("--jobs: must be 1..256");
  if (options.format != "table" && options.format != "json")
    throw InputError("--format: must be table or json, not '" + options.format + "'");
  sim::TortureOptions torture;
  torture.first_seed = options.first_seed;
  torture.seeds = options.seeds;
  torture.jobs = options.jobs;
  torture.shrink = !options.no_shrink;
  if (options.max_recovery_s < 0.0) throw InputError("--max-recovery-s: must be >= 0 (0: no budget)");
  torture.checks.capacity = options.check_capacity;
  torture.checks.stalls = options.check_stalls;
  torture.checks.max_recovery_s = options.max_recovery_s;
  torture.histories.controller_restarts = options.controller_restarts;
  if (!options.save_failing.empty()) {
    std::error_code error;
    std::filesystem::create_directories(options.save_failing, error);
    if (error)
      throw InputError(
          fmt::format("--save-failing: cannot create {}: {}", options.save_failing, error.message()));
  }
  bool people = options.format == "table";
  auto failing = nlohmann::ordered_json::array();
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> kinds;  // kind -> (seeds, first seed)
  std::uint64_t done = 0;
  auto report = sim::run_torture(torture, [&](const sim::SeedVerdict& verdict) {
    ++done;
    if (people && options.seeds >= 1000 && done % 1000 == 0)
      std::cerr << fmt::format("  ... {} of {} seeds\n", done, options.seeds);
    if (!verdict.failed()) return;
    std::vector<std::string> saved;
    if (!options.save_failing.empty()) {
      try {
        saved = sim::save_history(sim::make_hostile_history(verdict.seed, torture.histories), verdict,
                                  options.save_failing);
      } catch (const std::exception& e) {
        throw InputError(fmt::format("--save-failing: {}", e.what()));
      }
    }
    auto kind =
        verdict.crash.empty() ? sim::violation_kind(verdict.violations.front()) : "crash: " + verdict.crash;
    auto& entry = kinds[kind];
    if (entry.first++ == 0) entry.second = verdict.seed;
    if (!people) {
      failing.push_back(verdict_json(verdict, saved, torture));
      return;
    }
    std::cout << fmt::format("FAIL seed {}: {}\n", verdict.seed, verdict.description);
    if (!verdict.crash.empty()) std::cout << "  the run crashed: " << verdict.crash << "\n";
    for (std::size_t i = 0; i < verdict.violations.size() && i < 10; ++i)
      std::cout << "  " << verdict.violations[i] << "\n";
    if (verdict.violations.size() > 10)
      std::cout << fmt::format("  ... and {} more\n", verdict.violations.size() - 10);
    if (!verdict.shrunk_events.empty()) {
      std::cout << fmt::format("  shrunk to {} of {} events, still: {}\n", verdict.shrunk_events.size(),
                               verdict.events,
                               verdict.shrunk_violations.empty() ? "" : verdict.shrunk_violations.front());
    }
    std::cout << "  replay: " << sim::replay_command(verdict.seed, torture.histories, torture.checks) << "\n";
    if (saved.size() >= 2) {
      std::cout << fmt::format("  or: revive simulate --inventory {} --scenario {}\n", saved[0],
                               saved.size() > 2 ? saved[2] : saved[1]);
    }
  });
  if (people) {
    std::cout << fmt::format("{} seed{} ({}..{}), {} failed, {:.1f} s\n", report.seeds,
                             report.seeds == 1 ? "" : "s", report.first_seed,
                             report.first_seed + report.seeds - 1, report.failures.size(), report.wall_s);
    for (const auto& [kind, entry] : kinds) {
      std::cout << fmt::format("  {} seed(s), first {}: {}\n", entry.first, entry.second, kind);
    }
  } else {
    nlohmann::ordered_json out;
    out["first_seed"] = report.first_seed;
    out["seeds"] = report.seeds;
    out["failed"] = report.failures.size();
    out["wall_s"] = std::round(report.wall_s * 10.0) / 10.0;
    out["failing"] = std::move(failing);
    std::cout << out.dump() << "\n";
  }
  set_exit_status(report.failures.empty() ? kExitOk : kExitInvariantBroken);
}

struct ReplayOptions {
  std::string file;
  std::string format = "json";
};

void run_replay(const ReplayOptions& options) {
  std::ifstream in(options.file, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot read the decision file", options.file));
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json decision;
  try {
    decision = nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::parse_error& e) {
    throw InputError(fmt::format("{}: invalid JSON: {}", options.file, e.what()));
  }
  plan::Replayed replayed;
  try {
    replayed = plan::replay_decision(decision, options.file);
  } catch (const plan::DecisionFileError& e) {
    throw InputError(e.what());
  }
  std::cout << replayed.replayed_plan << "\n";
  if (!replayed.same()) {
    std::cerr << fmt::format("revive: {}: the replayed plan differs from the saved one\n  saved:    {}\n",
                             options.file, replayed.saved_plan);
    set_exit_status(kExitReplayDiffers);
  }
}

}  // namespace

void add_torture_commands(CLI::App& app) {
  auto options = std::make_shared<TortureCommandOptions>();
  auto* torture = app.add_subcommand(
      "torture",
      "Randomized fault simulation: N seeded hostile histories on generated clouds, every invariant checked; "
      "failing seeds shrunk to a minimal history, with the command that replays them (docs/RELIABILITY.md)");
  torture->add_option("--seeds", options->seeds, "How many seeds (default 100)");
  torture->add_option("--first-seed", options->first_seed, "The first seed (default 1)");
  torture->add_option("--jobs", options->jobs, "Histories run at once, each in a child process (default 1)");
  torture->add_option("--format", options->format, "table (default) | json");
  torture->add_option(
      "--save-failing", options->save_failing,
      "Directory: write the inventory and scenario (and the shrunk scenario) of every failing "
      "seed, for revive simulate");
  torture->add_flag("--no-shrink", options->no_shrink, "Do not shrink failing histories");
  torture->add_flag("--check-capacity", options->check_capacity,
                    "Also fail a run whose hosts end over their memory (replayed from the timeline)");
  torture->add_flag("--check-stalls,!--no-check-stalls", options->check_stalls,
                    "Fail a run where a VM ends waiting with nothing named that it waits for (on by default; "
                    "--no-check-stalls: off)");
  torture->add_option("--max-recovery-s", options->max_recovery_s,
                      "A recovery-time budget in seconds: fail a run where a VM runs again later than this "
                      "after its host was lost (default 0: none)");
  torture->add_flag("--controller-restarts", options->controller_restarts,
                    "Also kill the controller at random journal points and resume a new one (mid-recovery, "
                    "mid-drain, mid-restart-in-place)");
  torture->callback([options] { run_torture_command(*options); });

  auto replay_options = std::make_shared<ReplayOptions>();
  auto* replay = app.add_subcommand(
      "replay",
      "Plan a saved decision (simulate/plan --save-inputs) again from its inputs; prints the plan, exit 7 "
      "if it differs from the saved one");
  replay->add_option("FILE", replay_options->file, "A decision file (decision-*.json)")->required();
  replay->callback([replay_options] { run_replay(*replay_options); });
}

}  // namespace revive::cli
