// Evacuation makespan, revive against the fixed-8 and sequential baselines in the same run
// (docs/PERFORMANCE.md, "Evacuation"):
//   build/release/bench/evacuation_bench
// Generated clouds (model::generate_cloud: mixed VM sizes, dirty rates 5-500 MiB/s, or x3: a busy fleet) of
// 64 and 256 hosts; draining the host with the most VMs of each NIC speed, and the whole rack of the busiest,
// without a deadline (makespan alone) and with a tight one (60% of revive's makespan without); pod-16's
// scenario-evacuate (host-0003 for maintenance in 900 s, host-0009 on a predicted failure in 300 s).
// Counters: makespan_s per strategy, revive / fixed-8, VMs moved cold, VMs still running at the deadline. The
// simulated environment is the evacuation test environment (tests/exec), with dirty rates jittered by the
// seed (the engine predicts from the declared ones).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <map>

#include "exec/evacuation.h"
#include "exec/evacuation_test_env.h"
#include "model/generator.h"
#include "model/inventory.h"

namespace {

using namespace revive;

struct Outcome {
  double makespan_s = 0;
  int cold = 0, late = 0, moved = 0, not_placed = 0;
};

Outcome run(const model::Cloud& cloud,
            const std::vector<std::pair<std::vector<model::HostIndex>, double>>& drains,
            exec::EvacuationStrategy strategy, exec::EvacuationReason reason, std::uint64_t seed,
            std::vector<exec::EvacuationReason> reasons = {}) {
  exec::testing::TestLoop loop;
  sim::SimMigrations::Options sim_options;
  sim_options.seed = seed;
  exec::testing::TestWorld world(cloud, loop, sim_options);
  exec::EvacuationOptions options;
  options.strategy = strategy;
  exec::Evacuator evacuator(cloud, {loop, world, world, world, nullptr}, options);
  for (std::size_t i = 0; i < drains.size(); ++i) {
    evacuator.drain(drains[i].first, drains[i].second, i < reasons.size() ? reasons[i] : reason);
  }
  loop.run();
  Outcome outcome;
  for (const auto& r : evacuator.report()) {
    bool moved =
        r.outcome == exec::EvacuationOutcome::migrated || r.outcome == exec::EvacuationOutcome::moved_cold;
    if (moved)
      outcome.makespan_s =
          std::max(outcome.makespan_s, r.end_s);  // protect:false stops wait for the deadline
    outcome.cold += r.cold;
    outcome.late += r.running_at_deadline;
    outcome.moved += moved;
    outcome.not_placed += r.outcome == exec::EvacuationOutcome::not_placed;
  }
  if (!world.violations.empty() || !world.migrations().violations().empty())
    outcome.makespan_s = -1;  // flagged
  return outcome;
}

// `dirty_rate_scale` 1: the generator's default mix (median 25 MiB/s); 3: a busy fleet (median 75 MiB/s).
const model::Cloud& generated(std::uint32_t hosts, double dirty_rate_scale = 1.0) {
  static std::map<std::pair<std::uint32_t, double>, model::Cloud> clouds;
  auto key = std::make_pair(hosts, dirty_rate_scale);
  auto found = clouds.find(key);
  if (found != clouds.end()) return found->second;
  model::GeneratorOptions options;
  options.hosts = hosts;
  options.vms = hosts * 25;
  options.seed = 1;
  options.dirty_rate_scale = dirty_rate_scale;
  return clouds.emplace(key, model::generate_cloud(options)).first->second;
}

// The host with the most VMs, among those with a NIC of `nic_gbps` (0: any).
model::HostIndex busiest_host(const model::Cloud& cloud, double nic_gbps = 0) {
  model::HostIndex best = model::kNoIndex;
  for (model::HostIndex h = 0; h < cloud.hosts.size(); ++h) {
    if (nic_gbps != 0 && cloud.hosts[h].nic_gbps != nic_gbps) continue;
    if (best == model::kNoIndex || cloud.vms_on(h).size() > cloud.vms_on(best).size()) best = h;
  }
  return best;
}

// The engine's lower bound on any live schedule (exec::evacuation_lower_bound_s: each VM alone at the best
// share it can get, its re-dirtied rounds included, through its host's NIC and migration slots and its
// endpoint's; spares kept for failures are no targets), at the dirty rates the simulation draws with `seed`.
double lower_bound_s(const model::Cloud& cloud, const std::vector<model::HostIndex>& hosts,
                     std::uint64_t seed = 1) {
  exec::testing::TestLoop loop;
  sim::SimMigrations::Options options;
  options.seed = seed;
  sim::SimMigrations migrations(cloud, loop, options);
  std::vector<double> dirty(cloud.vms.size());
  for (model::VmIndex v = 0; v < cloud.vms.size(); ++v) dirty[v] = migrations.actual_dirty_mib_s(v);
  return exec::evacuation_lower_bound_s(cloud, hosts, options.parameters, nullptr, &dirty);
}

std::vector<model::HostIndex> rack_of(const model::Cloud& cloud, model::HostIndex host) {
  auto rack = cloud.symbols.find("rack");
  auto value = cloud.scope_value(host, rack);
  std::vector<model::HostIndex> hosts;
  for (model::HostIndex h = 0; h < cloud.hosts.size(); ++h) {
    if (cloud.scope_value(h, rack) == value) hosts.push_back(h);
  }
  return hosts;
}

void compare(benchmark::State& state, const model::Cloud& cloud, std::vector<model::HostIndex> hosts,
             double deadline) {
  Outcome revive, fixed, sequential;
  for (auto _ : state) {
    revive = run(cloud, {{hosts, deadline}}, exec::EvacuationStrategy::revive,
                 exec::EvacuationReason::maintenance, 1);
    fixed = run(cloud, {{hosts, deadline}}, exec::EvacuationStrategy::fixed_8,
                exec::EvacuationReason::maintenance, 1);
    sequential = run(cloud, {{hosts, deadline}}, exec::EvacuationStrategy::sequential,
                     exec::EvacuationReason::maintenance, 1);
  }
  state.counters["hosts"] = static_cast<double>(hosts.size());
  state.counters["bound_s"] = lower_bound_s(cloud, hosts);
  state.counters["revive_over_bound"] = revive.makespan_s / lower_bound_s(cloud, hosts);
  state.counters["vms_moved"] = revive.moved;
  state.counters["revive_s"] = revive.makespan_s;
  state.counters["fixed8_s"] = fixed.makespan_s;
  state.counters["sequential_s"] = sequential.makespan_s;
  state.counters["revive_over_fixed8"] = revive.makespan_s / fixed.makespan_s;
  // The best ratio any live strategy could reach against fixed-8 in this drain: bound / fixed-8.
  state.counters["bound_over_fixed8"] = lower_bound_s(cloud, hosts) / fixed.makespan_s;
  state.counters["revive_cold"] = revive.cold;
  state.counters["revive_late"] = revive.late;
  state.counters["fixed8_late"] = fixed.late;
  state.counters["not_placed"] = revive.not_placed;
}

// Args: hosts in the cloud, NIC of the drained host (the busiest one with that NIC; 0: the busiest of all).
void each_nic_in_two_clouds(benchmark::internal::Benchmark* benchmark) {
  for (std::int64_t hosts : {64, 256}) {
    for (std::int64_t nic : {10, 25, 100}) benchmark->Args({hosts, nic});
  }
  benchmark->Unit(benchmark::kMillisecond)->Iterations(1);
}

void DrainOneHost(benchmark::State& state) {
  const auto& cloud = generated(static_cast<std::uint32_t>(state.range(0)));
  compare(state, cloud, {busiest_host(cloud, static_cast<double>(state.range(1)))}, 1e9);
}
BENCHMARK(DrainOneHost)->Apply(each_nic_in_two_clouds);

// The same on a busy fleet (dirty rates x3).
void DrainOneHostBusyFleet(benchmark::State& state) {
  const auto& cloud = generated(static_cast<std::uint32_t>(state.range(0)), 3.0);
  compare(state, cloud, {busiest_host(cloud, static_cast<double>(state.range(1)))}, 1e9);
}
BENCHMARK(DrainOneHostBusyFleet)->Apply(each_nic_in_two_clouds);

void DrainRack(benchmark::State& state) {
  const auto& cloud = generated(static_cast<std::uint32_t>(state.range(0)));
  compare(state, cloud, rack_of(cloud, busiest_host(cloud)), 1e9);
}
BENCHMARK(DrainRack)->Arg(64)->Arg(256)->Unit(benchmark::kMillisecond)->Iterations(1);

void DrainRackBusyFleet(benchmark::State& state) {
  const auto& cloud = generated(static_cast<std::uint32_t>(state.range(0)), 3.0);
  compare(state, cloud, rack_of(cloud, busiest_host(cloud)), 1e9);
}
BENCHMARK(DrainRackBusyFleet)->Arg(64)->Arg(256)->Unit(benchmark::kMillisecond)->Iterations(1);

// A deadline of 60% of revive's own makespan without one: the lowest priorities go cold, nobody is left
// running. Args: hosts in the cloud, dirty-rate scale (1: default mix, 3: busy fleet)[, NIC of the drained
// host].
void with_tight_deadline(benchmark::State& state, const model::Cloud& cloud,
                         const std::vector<model::HostIndex>& hosts) {
  auto free_run =
      run(cloud, {{hosts, 1e9}}, exec::EvacuationStrategy::revive, exec::EvacuationReason::maintenance, 1);
  compare(state, cloud, hosts, 0.6 * free_run.makespan_s);
  state.counters["deadline_s"] = 0.6 * free_run.makespan_s;
}

void DrainRackTightDeadline(benchmark::State& state) {
  const auto& cloud =
      generated(static_cast<std::uint32_t>(state.range(0)), static_cast<double>(state.range(1)));
  with_tight_deadline(state, cloud, rack_of(cloud, busiest_host(cloud)));
}
BENCHMARK(DrainRackTightDeadline)
    ->Args({64, 1})
    ->Args({256, 1})
    ->Args({64, 3})
    ->Args({256, 3})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);

void DrainOneHostTightDeadline(benchmark::State& state) {
  const auto& cloud =
      generated(static_cast<std::uint32_t>(state.range(0)), static_cast<double>(state.range(1)));
  with_tight_deadline(state, cloud, {busiest_host(cloud, static_cast<double>(state.range(2)))});
}
BENCHMARK(DrainOneHostTightDeadline)
    ->Args({64, 1, 10})
    ->Args({64, 1, 25})
    ->Args({64, 1, 100})
    ->Args({256, 1, 100})
    ->Args({64, 3, 25})
    ->Args({256, 3, 10})
    ->Args({256, 3, 100})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);

void Pod16ScenarioEvacuate(benchmark::State& state) {
  static const model::Cloud cloud =
      model::load_inventory_file(std::string(REVIVE_SOURCE_DIR) + "/examples/pod-16/inventory.yaml");
  std::vector<std::pair<std::vector<model::HostIndex>, double>> drains = {
      {{cloud.find_host("host-0003")}, 900}, {{cloud.find_host("host-0009")}, 300}};
  std::vector<exec::EvacuationReason> reasons = {exec::EvacuationReason::maintenance,
                                                 exec::EvacuationReason::predicted_failure};
  Outcome revive, fixed, sequential;
  for (auto _ : state) {
    revive = run(cloud, drains, exec::EvacuationStrategy::revive, {}, 7, reasons);
    fixed = run(cloud, drains, exec::EvacuationStrategy::fixed_8, {}, 7, reasons);
    sequential = run(cloud, drains, exec::EvacuationStrategy::sequential, {}, 7, reasons);
  }
  state.counters["vms_moved"] = revive.moved;
  state.counters["revive_s"] = revive.makespan_s;
  state.counters["fixed8_s"] = fixed.makespan_s;
  state.counters["sequential_s"] = sequential.makespan_s;
  state.counters["revive_over_fixed8"] = revive.makespan_s / fixed.makespan_s;
  state.counters["revive_cold"] = revive.cold;
  state.counters["revive_late"] = revive.late;
  state.counters["fixed8_late"] = fixed.late;
  state.counters["sequential_late"] = sequential.late;
}
BENCHMARK(Pod16ScenarioEvacuate)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
