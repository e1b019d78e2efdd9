// Recovery schedules where one resource binds (docs/PERFORMANCE.md, "Schedules where one resource binds"):
//   build/release/bench/schedule_bench              # every case (a few minutes on 2 cores)
//   build/release/bench/schedule_bench 200          # clouds of at most 200 hosts only
//   build/release/bench/schedule_bench 200 DIR      # also writes each case's inventory and scenario to DIR
//                                                     (for `revive simulate --compare --format table --out`)
//   build/release/bench/schedule_bench 200 "" 0     # with another ExecutorOptions::robust_margin (here 0)
// Generated clouds (model::generate_cloud, 20 VMs per host, seed 11) of 50, 200 and 1,000 hosts, 1%, 5% and
// 10% of them crashing at once, each changed so that a different resource binds: one management endpoint
// (every host behind one, 8 operations at once), one storage array (4 at once), the rack switches (1 at
// once), the target hosts (1 start at once per host), and `after` chains (every failed host's VMs in
// chains of 3). Spec latencies with repeatability 0.8, detect fixed at 5 s, seed 7.
// For each case: the spec's lower bound and the tighter one (exec/bound.h), revive's makespan with the honest
// estimates (--estimates history: each VM's habit, not this run's noise) against both and against the
// `parallel` strategy (same estimates), the critical tier done under revive and under parallel; then revive
// with clairvoyant estimates (this run's draws: for analysis only) and with median estimates. Summary lines:
// mean and worst of each ratio.
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "model/generator.h"
#include "model/inventory.h"
#include "sim/scenario.h"
#include "sim/simulation.h"

namespace {

using namespace revive;

struct Case {
  std::string binding;
  std::function<void(model::GeneratorOptions&)> generate;
  std::function<void(model::Cloud&, const std::vector<model::HostIndex>&)> adjust;
};

std::vector<Case> cases() {
  return {
      {"endpoint", [](model::GeneratorOptions& o) { o.hosts_per_endpoint = o.hosts; },
       [](model::Cloud& cloud, const std::vector<model::HostIndex>&) {
         for (auto& endpoint : cloud.endpoints) endpoint.max_parallel = 8;
       }},
      {"array", [](model::GeneratorOptions& o) { o.arrays = 1; },
       [](model::Cloud& cloud, const std::vector<model::HostIndex>&) {
         for (auto& array : cloud.arrays) array.max_parallel = 4;
       }},
      {"switch", [](model::GeneratorOptions&) {},
       [](model::Cloud& cloud, const std::vector<model::HostIndex>&) {
         for (auto& network_switch : cloud.switches) network_switch.max_parallel = 1;
       }},
      {"target host", [](model::GeneratorOptions&) {},
       [](model::Cloud& cloud, const std::vector<model::HostIndex>&) {
         cloud.policy.host_max_parallel_restarts = 4;
       }},
      {"after chain", [](model::GeneratorOptions&) {},
       [](model::Cloud& cloud, const std::vector<model::HostIndex>& failed) {
         // Every failed host's VMs in chains of three: each starts after the one before it.
         for (auto host : failed) {
           std::vector<model::VmIndex> vms;
           for (model::VmIndex v = 0; v < cloud.vms.size(); ++v) {
             if (cloud.vms[v].host == host) vms.push_back(v);
           }
           for (std::size_t i = 0; i < vms.size(); ++i) {
             if (i % 3 != 0) cloud.vms[vms[i]].after = {vms[i - 1]};
           }
         }
         cloud.rebuild_indexes();
       }},
  };
}

std::vector<model::HostIndex> failed_hosts(std::size_t hosts, std::uint32_t percent) {
  std::vector<model::HostIndex> failed;
  auto count = std::max<std::size_t>(1, hosts * percent / 100);
  auto step = hosts / count;
  for (std::size_t i = 0; i < count; ++i)
    failed.push_back(static_cast<model::HostIndex>((3 + i * step) % hosts));
  return failed;
}

sim::Scenario crash(const std::vector<model::HostIndex>& hosts, std::uint64_t seed) {
  sim::Scenario scenario;
  scenario.file = "generated";
  scenario.seed = seed;
  scenario.latency.detect = sim::Latency{5.0, 0.0};
  sim::ScenarioEvent event;
  event.kind = sim::ScenarioEvent::Kind::fail;
  event.hosts = hosts;
  scenario.events.push_back(event);
  return scenario;
}

double robust_margin = exec::ExecutorOptions{}.robust_margin;
std::uint32_t robust_samples = exec::ExecutorOptions{}.robust_samples;

sim::SimulationResult run(const model::Cloud& cloud, const sim::Scenario& scenario, exec::Strategy strategy,
                          sim::SimEstimator::Mode estimates) {
  sim::SimulationOptions options;
  options.executor.robust_margin = robust_margin;
  options.executor.robust_samples = robust_samples;
  options.strategy = strategy;
  options.estimates = estimates;
  return sim::run_simulation(cloud, scenario, options);
}

struct Summary {
  std::vector<double> values;
  void add(double value) { values.push_back(value); }
  double mean() const {
    double sum = 0;
    for (double v : values) sum += v;
    return values.empty() ? 0 : sum / static_cast<double>(values.size());
  }
  double worst() const { return values.empty() ? 0 : *std::max_element(values.begin(), values.end()); }
};

}  // namespace

int main(int argc, char** argv) {
  // Positional (as before): [max hosts] [dump dir] [robust_margin]; then flags: --only BINDS (one kind of
  // case), --hosts N (one size), --fail P (one share), --seed S (the generator's seed, default 11),
  // --scenario-seed S (the scenario's, default 7), --samples N (ExecutorOptions::robust_samples).
  std::uint32_t max_hosts = 1000;
  std::string dump;
  std::string only;
  std::uint32_t only_hosts = 0, only_percent = 0;
  std::uint64_t generator_seed = 11;
  std::uint64_t scenario_seed = 7;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        fmt::print(stderr, "schedule_bench: {} needs a value\n", arg);
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--only") {
      only = value();
    } else if (arg == "--hosts") {
      only_hosts = static_cast<std::uint32_t>(std::atoi(value().c_str()));
    } else if (arg == "--fail") {
      only_percent = static_cast<std::uint32_t>(std::atoi(value().c_str()));
    } else if (arg == "--samples") {
      robust_samples = static_cast<std::uint32_t>(std::atoi(value().c_str()));
    } else if (arg == "--seed") {
      generator_seed = std::strtoull(value().c_str(), nullptr, 10);
    } else if (arg == "--scenario-seed") {
      scenario_seed = std::strtoull(value().c_str(), nullptr, 10);
    } else if (arg.rfind("--", 0) == 0) {
      fmt::print(stderr, "schedule_bench: unknown option {}\n", arg);
      return 2;
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() > 0) max_hosts = static_cast<std::uint32_t>(std::atoi(positional[0].c_str()));
  if (positional.size() > 1) dump = positional[1];
  if (positional.size() > 2) robust_margin = std::atof(positional[2].c_str());
  fmt::print("robust_margin {}, robust_samples {}, generator seed {}, scenario seed {}\n", robust_margin,
             robust_samples, generator_seed, scenario_seed);
  std::map<std::string, Summary> summary;
  fmt::print(
      "{:<12} {:>5} {:>4} {:>5} {:>8} {:>8} {:>9} {:>7} {:>7} {:>7} {:>8} {:>8} {:>7} {:>7} {:>7} {:>7} "
      "{:>7}  "
      "{}\n",
      "BINDS", "HOSTS", "FAIL", "VMS", "BOUND_S", "TIGHT_S", "REVIVE_S", "X_BOUND", "X_TIGHT", "X_PAR",
      "CRIT_S", "CRIT_PAR", "X_CRIT", "CLAIRV", "MEDIAN", "BND/PAR", "WALL_S", "TIGHT BOUND SET BY");
  for (std::uint32_t hosts : {50u, 200u, 1000u}) {
    if (hosts > max_hosts || (only_hosts != 0 && hosts != only_hosts)) continue;
    for (const auto& each : cases()) {
      if (!only.empty() && each.binding != only) continue;
      model::GeneratorOptions options;
      options.hosts = hosts;
      options.vms = hosts * 20;
      options.seed = generator_seed;
      each.generate(options);
      auto base = model::generate_cloud(options);
      for (std::uint32_t percent : {1u, 5u, 10u}) {
        if (only_percent != 0 && percent != only_percent) continue;
        auto failed = failed_hosts(base.hosts.size(), percent);
        model::Cloud cloud = base;
        each.adjust(cloud, failed);
        auto scenario = crash(failed, scenario_seed);
        if (!dump.empty()) {
          auto name = fmt::format("{}-{}-{}",
                                  each.binding == "target host"   ? "host"
                                  : each.binding == "after chain" ? "chain"
                                                                  : each.binding,
                                  hosts, percent);
          std::filesystem::create_directories(dump);
          std::ofstream inventory(std::filesystem::path(dump) / (name + ".yaml"));
          model::write_inventory(cloud, inventory);
          std::ofstream events(std::filesystem::path(dump) / (name + "-scenario.yaml"));
          events << "version: 1\nseed: " << scenario_seed
                 << "\nlatency: {detect: 5}\nevents:\n- at: 0\n  fail: [";
          for (std::size_t i = 0; i < failed.size(); ++i) {
            events << (i ? ", " : "") << cloud.hosts[failed[i]].name;
          }
          events << "]\n";
        }
        auto revive = run(cloud, scenario, exec::Strategy::revive, sim::SimEstimator::Mode::history);
        auto parallel = run(cloud, scenario, exec::Strategy::parallel, sim::SimEstimator::Mode::history);
        auto clairvoyant = run(cloud, scenario, exec::Strategy::revive, sim::SimEstimator::Mode::clairvoyant);
        auto median = run(cloud, scenario, exec::Strategy::revive, sim::SimEstimator::Mode::median);
        double x_bound = revive.makespan_s / revive.lower_bound_s;
        double x_tight = revive.makespan_s / revive.tight_bound_s;
        double x_parallel = revive.makespan_s / parallel.makespan_s;
        double critical = revive.tier_done_s[0].value_or(0),
               critical_parallel = parallel.tier_done_s[0].value_or(0);
        double x_critical = critical_parallel > 0 ? critical / critical_parallel : 1.0;
        double x_clairvoyant = clairvoyant.makespan_s / clairvoyant.tight_bound_s;
        double x_median = median.makespan_s / median.tight_bound_s;
        summary["x_bound"].add(x_bound);
        summary["x_tight"].add(x_tight);
        summary["x_parallel"].add(x_parallel);
        summary["x_critical"].add(x_critical);
        summary["x_clairvoyant"].add(x_clairvoyant);
        summary["x_median"].add(x_median);
        auto broken = revive.violations.size() + parallel.violations.size() + clairvoyant.violations.size() +
                      median.violations.size();
        fmt::print(
            "{:<12} {:>5} {:>3}% {:>5} {:>8.1f} {:>8.1f} {:>9.1f} {:>6.3f}x {:>6.3f}x {:>6.3f}x {:>8.1f} "
            "{:>8.1f} "
            "{:>6.3f}x {:>6.3f}x {:>6.3f}x {:>6.3f}x {:>7.1f}  {}{}\n",
            each.binding, hosts, percent, revive.restarted, revive.lower_bound_s, revive.tight_bound_s,
            revive.makespan_s, x_bound, x_tight, x_parallel, critical, critical_parallel, x_critical,
            x_clairvoyant, x_median, revive.tight_bound_s / parallel.makespan_s, revive.wall_ms / 1000.0,
            revive.tight_binding, broken > 0 ? "  INVARIANTS BROKEN" : "");
        std::fflush(stdout);
      }
    }
  }
  fmt::print("\n{:<44} {:>8} {:>8}\n", "", "MEAN", "WORST");
  auto line = [&](const char* key, const char* text) {
    fmt::print("{:<44} {:>7.3f}x {:>7.3f}x\n", text, summary[key].mean(), summary[key].worst());
  };
  line("x_bound", "revive (history) / spec lower bound");
  line("x_tight", "revive (history) / tighter bound");
  line("x_parallel", "revive / parallel (both history)");
  line("x_critical", "critical tier done: revive / parallel");
  line("x_clairvoyant", "revive (clairvoyant, analysis) / tighter");
  line("x_median", "revive (median) / tighter bound");
  return 0;
}
