// Planner speed on a generated cloud of 5,000 hosts and 100,000 VMs (docs/PERFORMANCE.md, "Planner"):
//   build/release/bench/planner_bench
// - FailFivePercent/cold: plan_failover from scratch (engine built from the cloud, then one plan) for 250
// hosts.
// - FailFivePercent/warm: the same plan from an engine kept ready (as the daemon keeps it).
// - PrecomputeAllSingleHost: all 5,000 single-host plans.
// - IncrementalUpdateAfterVmMove: one VM moves; the affected prestaged plans are recomputed.
#include <benchmark/benchmark.h>

#include "model/generator.h"
#include "plan/placement_engine.h"
#include "plan/planner.h"
#include "plan/precomputed_plans.h"

namespace {

using namespace revive;

const model::Cloud& large_cloud() {
  static const model::Cloud cloud = [] {
    model::GeneratorOptions options;
    options.hosts = 5000;
    options.vms = 100000;
    options.seed = 1;
    return model::generate_cloud(options);
  }();
  return cloud;
}

plan::PlanRequest five_percent(const model::Cloud& cloud) {
  plan::PlanRequest request;
  for (model::HostIndex h = 0; h < cloud.hosts.size(); h += 20) request.failed_hosts.push_back(h);
  return request;
}

void FailFivePercentCold(benchmark::State& state) {
  const auto& cloud = large_cloud();
  auto request = five_percent(cloud);
  std::size_t moving = 0, waiting = 0;
  for (auto _ : state) {
    plan::Plan plan = plan::plan_failover(cloud, request);
    moving = plan.placements.size() + plan.waiting.size();
    waiting = plan.waiting.size();
    benchmark::DoNotOptimize(plan);
  }
  state.counters["failed_hosts"] = static_cast<double>(request.failed_hosts.size());
  state.counters["moving_vms"] = static_cast<double>(moving);
  state.counters["waiting_vms"] = static_cast<double>(waiting);
}
BENCHMARK(FailFivePercentCold)->Name("FailFivePercent/cold")->Unit(benchmark::kMillisecond);

void FailFivePercentWarm(benchmark::State& state) {
  const auto& cloud = large_cloud();
  auto request = five_percent(cloud);
  plan::PlacementEngine engine(cloud);
  for (auto _ : state) {
    plan::Plan plan = engine.plan(request, {});
    benchmark::DoNotOptimize(plan);
  }
}
BENCHMARK(FailFivePercentWarm)->Name("FailFivePercent/warm")->Unit(benchmark::kMillisecond);

void PrecomputeAllSingleHost(benchmark::State& state) {
  const auto& cloud = large_cloud();
  std::size_t plans = 0;
  for (auto _ : state) {
    plan::PrecomputedPlans prestaged(cloud, {});
    plans = prestaged.plans().size();
    benchmark::DoNotOptimize(prestaged);
  }
  state.counters["plans"] = static_cast<double>(plans);
}
BENCHMARK(PrecomputeAllSingleHost)->Unit(benchmark::kMillisecond)->Iterations(1);

void IncrementalUpdateAfterVmMove(benchmark::State& state) {
  model::Cloud cloud = large_cloud();
  plan::PrecomputedPlans prestaged(cloud, {});
  model::VmIndex vm = 12345;
  std::size_t recomputed = 0;
  for (auto _ : state) {
    // Move the VM to the next host that fits it by a plain scan; alternate back and forth.
    model::HostIndex from = cloud.vms[vm].host;
    model::HostIndex to = (from + 1) % static_cast<model::HostIndex>(cloud.hosts.size());
    cloud.vms[vm].host = to;
    recomputed += prestaged.on_vm_moved(vm, from);
  }
  state.counters["plans_recomputed_per_move"] =
      static_cast<double>(recomputed) / static_cast<double>(state.iterations());
}
BENCHMARK(IncrementalUpdateAfterVmMove)->Unit(benchmark::kMillisecond)->Iterations(20);

}  // namespace

BENCHMARK_MAIN();
