// Saving a placement decision with its inputs (daemon/decision_store.h), as revived does on its engine thread
// before acting on each decision, against the planner call that made it, side by side in one run
// (docs/PERFORMANCE.md, "Saved decisions"):
//   build/release/bench/decision_bench
// Each case: a generated cloud (model/generator.h), its first host failed, the recovery plan made once; then
// each iteration saves the decision: save() on the caller's thread (what the engine pays: a copy of the
// inputs, queued), then flush() until the store's thread has written the file (the cloud as an inventory, the
// request, the options, the plan; temporary file, rename, the oldest removed beyond keep 50). Counters
// (milliseconds, means): engine_ms, write_ms (what writing on the engine thread would cost it), file_kb (one
// file), plan_ms (the planner call of that decision, median of 5).
#include <benchmark/benchmark.h>

#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <vector>

#include "daemon/decision_store.h"
#include "model/generator.h"
#include "plan/planner.h"

namespace {

using namespace revive;

void save_decision(benchmark::State& state) {
  model::GeneratorOptions generator;
  generator.hosts = static_cast<std::uint32_t>(state.range(0));
  generator.vms = static_cast<std::uint32_t>(state.range(1));
  auto cloud = model::generate_cloud(generator);
  plan::PlanRequest request;
  request.failed_hosts = {0};
  plan::PlannerOptions options;
  std::vector<double> plan_ms;  // milliseconds, sorted below
  plan::Plan plan;
  for (int i = 0; i < 5; ++i) {
    auto started = std::chrono::steady_clock::now();
    plan = plan::plan_failover(cloud, request, options);
    plan_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count());
  }
  std::sort(plan_ms.begin(), plan_ms.end());
  auto directory =
      std::filesystem::temp_directory_path() /
      ("revive-decision-bench-" + std::to_string(::getpid()) + "-" + std::to_string(state.range(0)));
  std::filesystem::remove_all(directory);
  {
    daemon::DecisionStore store(directory.string(), 50);
    plan::Decision decision{"recovery", "recovery of failed hosts: host-0001", 1.0, cloud, request, options,
                            plan};
    std::uintmax_t bytes = 0;
    double engine_ms = 0;
    double write_ms = 0;
    for (auto _ : state) {
      auto started = std::chrono::steady_clock::now();
      auto entry = store.save(decision, "recovery-1", {cloud.hosts[0].name}, 1'700'000'000'000);
      auto queued = std::chrono::steady_clock::now();
      store.flush();
      auto written = std::chrono::steady_clock::now();
      engine_ms += std::chrono::duration<double, std::milli>(queued - started).count();
      write_ms += std::chrono::duration<double, std::milli>(written - queued).count();
      if (!entry || !store.failure().empty()) {
        state.SkipWithError(store.failure().c_str());
        break;
      }
      bytes = std::filesystem::file_size(directory / entry->file);
    }
    auto iterations = static_cast<double>(std::max<benchmark::IterationCount>(1, state.iterations()));
    state.counters["file_kb"] = static_cast<double>(bytes) / 1024.0;
    state.counters["engine_ms"] = engine_ms / iterations;
    state.counters["write_ms"] = write_ms / iterations;
  }
  state.counters["plan_ms"] = plan_ms[plan_ms.size() / 2];
  state.counters["vms_failed"] = static_cast<double>(plan.placements.size() + plan.waiting.size());
  std::filesystem::remove_all(directory);
}

}  // namespace

// {hosts, vms}: the lab's size (3 test-driver hosts, 3 VMs each), the generator's default, a large cloud.
BENCHMARK(save_decision)->Args({3, 9})->Args({64, 1600})->Args({1000, 20000})->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
