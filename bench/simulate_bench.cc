// Recovery executor and simulator (docs/PERFORMANCE.md, "Recovery executor and simulator"):
//   build/release/bench/simulate_bench                     # everything (a few minutes on 2 cores)
//   build/release/bench/simulate_bench --benchmark_filter=Pod16
// Quality: makespan of each strategy against the lower bound of docs/scenario.md on pod-16 and on
// generated clouds (model::generate_cloud, 20 VMs per host) of 100 to 10,000 hosts with 1% and 5% of the
// hosts crashing at once (every 100th / 20th host), spec latencies (detect 5 s, fence 8 s, unmap 2 s, map 4
// s, net_config 3 s, start 60 s medians), seed 7. Counters: makespan_s, bound_s, x_bound (makespan / bound),
// x_parallel (makespan / the parallel strategy's), critical_s (critical tier done) and critical_vs_parallel,
// speedup (serial / this), restarted, waiting, lost, double_runs, violations.
// Speed: 10,000 hosts / 200,000 VMs with 100 and 1,000 hosts failed: wall time of one simulation (plan,
// execute, outcome and bound), peak RSS of the process.
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <sys/resource.h>

#include <map>
#include <memory>
#include <string>

#include "model/generator.h"
#include "model/inventory.h"
#include "sim/scenario.h"
#include "sim/simulation.h"

namespace {

using namespace revive;

const model::Cloud& generated(std::uint32_t hosts) {
  static std::map<std::uint32_t, std::unique_ptr<model::Cloud>> clouds;
  auto& slot = clouds[hosts];
  if (!slot) {
    model::GeneratorOptions options;
    options.hosts = hosts;
    options.vms = hosts * 20;
    options.seed = 11;
    slot = std::make_unique<model::Cloud>(model::generate_cloud(options));
  }
  return *slot;
}

const model::Cloud& pod16() {
  static const model::Cloud cloud =
      model::load_inventory_file(std::string(REVIVE_SOURCE_DIR) + "/examples/pod-16/inventory.yaml");
  return cloud;
}

sim::Scenario crash_scenario(const model::Cloud& cloud, double failed_share) {
  sim::Scenario scenario;
  scenario.file = "generated";
  scenario.seed = 7;
  scenario.latency.detect = sim::Latency{5.0, 0.0};
  sim::ScenarioEvent crash;
  crash.kind = sim::ScenarioEvent::Kind::fail;
  auto step = static_cast<std::size_t>(1.0 / failed_share + 0.5);
  for (std::size_t h = 3; h < cloud.hosts.size(); h += step)
    crash.hosts.push_back(static_cast<model::HostIndex>(h));
  if (crash.hosts.empty()) crash.hosts.push_back(0);
  scenario.events.push_back(crash);
  return scenario;
}

sim::SimulationResult run(const model::Cloud& cloud, const sim::Scenario& scenario, exec::Strategy strategy) {
  sim::SimulationOptions options;
  options.strategy = strategy;
  return sim::run_simulation(cloud, scenario, options);
}

void report(benchmark::State& state, const sim::SimulationResult& result,
            const sim::SimulationResult* parallel, const sim::SimulationResult* serial) {
  state.counters["makespan_s"] = result.makespan_s;
  state.counters["bound_s"] = result.lower_bound_s;
  state.counters["x_bound"] = result.lower_bound_s > 0 ? result.makespan_s / result.lower_bound_s : 0;
  if (parallel != nullptr) state.counters["x_parallel"] = result.makespan_s / parallel->makespan_s;
  if (serial != nullptr) state.counters["speedup"] = serial->makespan_s / result.makespan_s;
  if (result.tier_done_s[0]) {
    state.counters["critical_s"] = *result.tier_done_s[0];
    if (parallel != nullptr && parallel->tier_done_s[0]) {
      state.counters["critical_vs_parallel"] = *result.tier_done_s[0] - *parallel->tier_done_s[0];
    }
  }
  state.counters["restarted"] = result.restarted;
  state.counters["waiting"] = result.waiting + result.failed;
  state.counters["lost"] = result.lost;
  state.counters["double_runs"] = result.double_runs;
  state.counters["violations"] = static_cast<double>(result.violations.size());
}

// Each quality benchmark runs its strategy, plus parallel and serial once for the ratios.
void quality(benchmark::State& state, const model::Cloud& cloud, const sim::Scenario& scenario,
             exec::Strategy strategy, bool with_serial) {
  auto parallel = run(cloud, scenario, exec::Strategy::parallel);
  std::unique_ptr<sim::SimulationResult> serial;
  if (with_serial)
    serial = std::make_unique<sim::SimulationResult>(run(cloud, scenario, exec::Strategy::serial));
  sim::SimulationResult result;
  for (auto _ : state) result = run(cloud, scenario, strategy);
  report(state, result, &parallel, serial.get());
}

const exec::Strategy kStrategies[] = {exec::Strategy::serial, exec::Strategy::parallel_restart,
                                      exec::Strategy::parallel, exec::Strategy::revive};

void BM_Pod16(benchmark::State& state) {
  auto strategy = kStrategies[state.range(0)];
  state.SetLabel(std::string(exec::to_string(strategy)));
  auto scenario =
      sim::load_scenario_file(std::string(REVIVE_SOURCE_DIR) + "/examples/pod-16/scenario.yaml", pod16());
  quality(state, pod16(), scenario, strategy, true);
}
BENCHMARK(BM_Pod16)->DenseRange(0, 3)->Unit(benchmark::kMillisecond)->Iterations(1);

// range(0): hosts, range(1): failed percent, range(2): strategy index.
void BM_Generated(benchmark::State& state) {
  auto hosts = static_cast<std::uint32_t>(state.range(0));
  auto strategy = kStrategies[state.range(2)];
  state.SetLabel(fmt::format("{} hosts, {}% failed, {}", hosts, state.range(1), exec::to_string(strategy)));
  const auto& cloud = generated(hosts);
  auto scenario = crash_scenario(cloud, static_cast<double>(state.range(1)) / 100.0);
  quality(state, cloud, scenario, strategy, hosts <= 1000);
}
BENCHMARK(BM_Generated)
    ->ArgsProduct({{100, 1000}, {1, 5}, {0, 1, 2, 3}})
    ->ArgsProduct({{10000}, {1, 5}, {2, 3}})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);

// Simulator speed at cloud scale: revive on 10,000 hosts / 200,000 VMs.
void BM_SimulatorSpeed(benchmark::State& state) {
  const auto& cloud = generated(10000);
  auto failed = static_cast<double>(state.range(0));
  auto scenario = crash_scenario(cloud, failed / 10000.0);
  state.SetLabel(fmt::format("10,000 hosts / {} VMs, {} hosts failed", cloud.vms.size(),
                             scenario.events[0].hosts.size()));
  sim::SimulationResult result;
  for (auto _ : state) result = run(cloud, scenario, exec::Strategy::revive);
  report(state, result, nullptr, nullptr);
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  state.counters["peak_rss_mib"] = static_cast<double>(usage.ru_maxrss) / 1024.0;
  state.counters["callbacks"] = static_cast<double>(result.callbacks);
}
BENCHMARK(BM_SimulatorSpeed)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
