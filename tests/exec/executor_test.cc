// The executor against the simulated cloud: strategies, the bound, determinism, and every fault event of the
// spec with a check of its outcome. Every run's invariants are asserted (no two copies, fence and disks
// before start, limits, every VM running or waiting with a reason).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "exec/executor.h"
#include "model/generator.h"
#include "model/inventory.h"
#include "plan/planner.h"
#include "sim/scenario.h"
#include "sim/simulation.h"
#include "sim/world.h"
#include "support/test_support.h"

namespace revive::exec {
namespace {

using revive::testing::examples_dir;
using sim::SimulationResult;

const model::Cloud& cloud_of(const std::string& name) {
  static std::map<std::string, model::Cloud> clouds;
  auto found = clouds.find(name);
  if (found == clouds.end()) {
    found =
        clouds.emplace(name, model::load_inventory_file((examples_dir() / name / "inventory.yaml").string()))
            .first;
  }
  return found->second;
}

const model::Cloud& pod16() {
  return cloud_of("pod-16");
}

constexpr const char* kPod16Head = R"(version: 1
seed: 7
latency:
  detect: 5
  fence: {median: 8, spread: 0.2}
  disk_unmap: {median: 2, spread: 0.3}
  disk_map: {median: 4, spread: 0.3}
  net_config: {median: 3, spread: 0.3}
  vm_start: {median: 60, spread: 0.4}
  vm_stop: {median: 20, spread: 0.3}
events:
  - {at: 0, fail: [host-0006, host-0015]}
)";

void expect_invariants(const model::Cloud& cloud, const SimulationResult& result) {
  EXPECT_TRUE(result.violations.empty())
      << result.violations.size()
      << " violations, first: " << (result.violations.empty() ? "" : result.violations.front());
  EXPECT_EQ(result.double_runs, 0u);
  EXPECT_EQ(result.lost, 0u);
  for (const auto& vm : result.vms) {
    if (vm.state != VmState::running) {
      EXPECT_FALSE(vm.reason.empty()) << cloud.vms[vm.vm].name;
    }
  }
}

SimulationResult simulate(const model::Cloud& cloud, const std::string& scenario_text, Strategy strategy,
                          sim::SimulationOptions options = {}) {
  auto scenario = sim::load_scenario_text(scenario_text, "test-scenario.yaml", cloud);
  options.strategy = strategy;
  auto result = sim::run_simulation(cloud, scenario, options);
  expect_invariants(cloud, result);
  return result;
}

SimulationResult simulate_pod16(const std::string& extra_events = "", Strategy strategy = Strategy::revive) {
  return simulate(pod16(), std::string(kPod16Head) + extra_events, strategy);
}

std::vector<const sim::TimelineStep*> steps_of(const SimulationResult& result, const std::string& vm_name,
                                               env::StepKind kind) {
  std::vector<const sim::TimelineStep*> steps;
  auto vm = pod16().find_vm(vm_name);
  for (const auto& step : result.timeline) {
    if (step.vm == vm && step.kind == kind) steps.push_back(&step);
  }
  return steps;
}

const VmReport& report_of(const SimulationResult& result, model::VmIndex vm) {
  for (const auto& report : result.vms) {
    if (report.vm == vm) return report;
  }
  throw std::runtime_error("no report");
}

TEST(Executor, StrategiesOnPod16AreOrderedAndReviveReachesTheBound) {
  std::map<Strategy, SimulationResult> results;
  for (auto strategy : {Strategy::serial, Strategy::parallel_restart, Strategy::parallel, Strategy::revive}) {
    results[strategy] = simulate_pod16("", strategy);
    EXPECT_EQ(results[strategy].restarted, 48u) << to_string(strategy);
    EXPECT_EQ(results[strategy].waiting + results[strategy].failed, 0u);
  }
  const auto& serial = results[Strategy::serial];
  const auto& parallel_restart = results[Strategy::parallel_restart];
  const auto& parallel = results[Strategy::parallel];
  const auto& revive = results[Strategy::revive];
  EXPECT_GT(serial.makespan_s, parallel_restart.makespan_s);
  EXPECT_GT(parallel_restart.makespan_s, parallel.makespan_s);
  EXPECT_GT(parallel.makespan_s, revive.makespan_s);
  // The same plan and durations: the same bound for all.
  for (const auto& [strategy, result] : results) {
    EXPECT_DOUBLE_EQ(result.lower_bound_s, revive.lower_bound_s);
    EXPECT_GE(result.makespan_s, result.lower_bound_s - 1e-6) << to_string(strategy);
  }
  EXPECT_LE(revive.makespan_s, 1.10 * revive.lower_bound_s);
  EXPECT_LE(revive.makespan_s, 0.6 * parallel.makespan_s);
  ASSERT_TRUE(revive.tier_done_s[0] && parallel.tier_done_s[0]);
  EXPECT_LE(*revive.tier_done_s[0], *parallel.tier_done_s[0]);
}

TEST(Executor, SameInputsGiveTheSameRun) {
  auto first = simulate_pod16();
  auto second = simulate_pod16();
  EXPECT_EQ(sim::timeline_json(pod16(), first).dump(), sim::timeline_json(pod16(), second).dump());
  auto a = sim::summary_json(first);
  auto b = sim::summary_json(second);
  a.erase("wall_ms");
  b.erase("wall_ms");
  EXPECT_EQ(a.dump(), b.dump());
}

TEST(Executor, SerialRunsOneStepAtATimeAndParallelWaitsTierByTier) {
  auto serial = simulate_pod16("", Strategy::serial);
  std::vector<std::pair<double, double>> spans;
  for (const auto& step : serial.timeline) {
    if (step.kind != env::StepKind::fence) spans.emplace_back(step.start_s, step.end_s);
  }
  std::sort(spans.begin(), spans.end());
  for (std::size_t i = 1; i < spans.size(); ++i) EXPECT_GE(spans[i].first, spans[i - 1].second - 1e-9);

  auto parallel = simulate_pod16("", Strategy::parallel);
  // No step of a VM of a lower tier begins before the higher tier is done.
  std::map<model::VmIndex, int> tier;
  for (const auto& vm : parallel.vms) tier[vm.vm] = static_cast<int>(vm.priority);
  for (const auto& step : parallel.timeline) {
    if (step.vm == model::kNoIndex) continue;
    for (int higher = 0; higher < tier[step.vm]; ++higher) {
      if (parallel.tier_done_s[higher]) {
        EXPECT_GE(step.start_s + 1e-3, *parallel.tier_done_s[higher]);
      }
    }
  }
}

TEST(Executor, FailedStepIsRetriedAndTheVmStillRuns) {
  auto result = simulate_pod16("  - {at: 0, fail_step: {vm: vm-000161, step: vm_start, times: 1}}\n");
  auto starts = steps_of(result, "vm-000161", env::StepKind::vm_start);
  ASSERT_EQ(starts.size(), 2u);
  EXPECT_FALSE(starts[0]->ok);
  EXPECT_TRUE(starts[1]->ok);
  EXPECT_EQ(starts[0]->host, starts[1]->host);                   // retried in place
  EXPECT_GE(starts[1]->start_s, starts[0]->end_s + 2.0 - 1e-9);  // after the backoff
  EXPECT_EQ(result.restarted, 48u);
  EXPECT_EQ(report_of(result, pod16().find_vm("vm-000161")).state, VmState::running);
}

// Critical steps hold back slots of their resource until dispatched (revive). An unmap of a critical VM that
// timed out on an array slowed 30x was retried without its hold while the VM's own maps still held back
// every slot of the array: nothing on the array could go any more, and 19 VMs ended waiting with "recovery
// did not complete" (found while testing resume under slow calls). A critical step ready again holds its
// slot back again.
TEST(Executor, ACriticalStepRetriedAfterATimeoutIsNotBlockedByItsOwnVmsHeldBackSlots) {
  auto result = simulate_pod16(
      "  - {at: 0, slow_step: {endpoint: mgmt-1, factor: 8, until: 1500}}\n"
      "  - {at: 0, slow_step: {array: array-1, factor: 30, until: 400}}\n");
  std::size_t timed_out = 0;
  for (const auto& step : result.timeline) {
    timed_out += step.kind == env::StepKind::disk_unmap && step.finished && step.end_s - step.start_s > 60.0;
  }
  EXPECT_GT(timed_out, 0u);  // unmaps ran past their timeout and were retried
  EXPECT_EQ(result.restarted, 48u);
  EXPECT_EQ(result.waiting, 0u);
}

TEST(Executor, StepFailingForGoodSendsTheVmToAnotherTarget) {
  auto result = simulate_pod16("  - {at: 0, fail_step: {vm: vm-000161, step: vm_start, times: 3}}\n");
  auto starts = steps_of(result, "vm-000161", env::StepKind::vm_start);
  ASSERT_EQ(starts.size(), 4u);
  auto& report = report_of(result, pod16().find_vm("vm-000161"));
  EXPECT_EQ(report.state, VmState::running);
  EXPECT_EQ(report.replans, 1u);
  EXPECT_NE(starts[3]->host, starts[0]->host);
  EXPECT_EQ(report.to, starts[3]->host);
  // Its disks were unmapped from the refused target before being mapped to the new one.
  auto unmaps = steps_of(result, "vm-000161", env::StepKind::disk_unmap);
  EXPECT_TRUE(
      std::any_of(unmaps.begin(), unmaps.end(), [&](const auto* s) { return s->host == starts[0]->host; }));
  EXPECT_EQ(result.restarted, 48u);
}

TEST(Executor, FailedDiskAndNetworkStepsAreRetried) {
  auto result = simulate_pod16(
      "  - {at: 0, fail_step: {vm: vm-000157, step: disk_map, times: 2}}\n"
      "  - {at: 0, fail_step: {vm: vm-000157, step: net_config, times: 1}}\n"
      "  - {at: 0, fail_step: {host: host-0006, step: fence, times: 1}}\n");
  auto maps = steps_of(result, "vm-000157", env::StepKind::disk_map);
  EXPECT_EQ(std::count_if(maps.begin(), maps.end(), [](const auto* s) { return !s->ok; }), 2);
  auto fences = std::count_if(result.timeline.begin(), result.timeline.end(), [](const sim::TimelineStep& s) {
    return s.kind == env::StepKind::fence && s.host == pod16().find_host("host-0006");
  });
  EXPECT_EQ(fences, 2);
  EXPECT_EQ(result.restarted, 48u);
}

TEST(Executor, SlowArrayLengthensItsLane) {
  auto base = simulate_pod16();
  auto slow = simulate_pod16("  - {at: 0, slow_step: {array: array-2, factor: 3, until: 1000}}\n");
  auto array = pod16().find_array("array-2");
  auto lane_end = [&](const SimulationResult& result) {
    double end = 0;
    double busy = 0;
    for (const auto& step : result.timeline) {
      if (step.disk != model::kNoIndex && pod16().disks[step.disk].array == array) {
        end = std::max(end, step.end_s);
        busy += step.end_s - step.start_s;
      }
    }
    return std::make_pair(end, busy);
  };
  auto [base_end, base_busy] = lane_end(base);
  auto [slow_end, slow_busy] = lane_end(slow);
  EXPECT_NEAR(slow_busy, 3.0 * base_busy, 1e-6);
  EXPECT_GT(slow_end, 2.0 * (base_end - 15.0));
  EXPECT_GT(slow.makespan_s, base.makespan_s);
  EXPECT_EQ(slow.restarted, 48u);
}

// The host that received the most restarted VMs in the fault-free run.
model::HostIndex busiest_target(const SimulationResult& result) {
  std::map<model::HostIndex, int> count;
  for (const auto& vm : result.vms) ++count[vm.to];
  return std::max_element(count.begin(), count.end(),
                          [](const auto& a, const auto& b) { return a.second < b.second; })
      ->first;
}

TEST(Executor, TargetDyingMidRecoveryHasItsVmsReplannedElsewhere) {
  auto base = simulate_pod16();
  auto target = busiest_target(base);
  const auto& name = pod16().hosts[target].name;
  auto result = simulate_pod16("  - {at: 60, fail: [" + name + "]}\n");
  // Every VM that was headed there, and every VM that ran there, runs elsewhere.
  std::set<model::VmIndex> were_headed_there;
  for (const auto& vm : base.vms) {
    if (vm.to == target) were_headed_there.insert(vm.vm);
  }
  ASSERT_FALSE(were_headed_there.empty());
  for (const auto& vm : result.vms) {
    if (vm.state == VmState::running) {
      EXPECT_NE(vm.to, target) << pod16().vms[vm.vm].name;
    }
    if (were_headed_there.count(vm.vm)) {
      EXPECT_EQ(vm.state, VmState::running) << pod16().vms[vm.vm].name << ": " << vm.reason;
    }
  }
  auto residents = pod16().vms_on(target).size();
  EXPECT_EQ(result.restarted, 48u + residents);
  // Its fence happened, and no VM started elsewhere before it for VMs that ran there.
  double fenced_at = -1;
  for (const auto& step : result.timeline) {
    if (step.kind == env::StepKind::fence && step.host == target && step.ok) fenced_at = step.end_s;
  }
  EXPECT_GE(fenced_at, 60.0);
}

TEST(Executor, IsolatedHostsVmsAreNotRestartedBeforeItIsFenced) {
  auto result = simulate(
      pod16(),
      std::string(kPod16Head) + "  - {at: 0, isolate: [host-0003], channels: [agent, hypervisor, storage]}\n",
      Strategy::revive);
  auto isolated = pod16().find_host("host-0003");
  double fenced_at = -1;
  for (const auto& step : result.timeline) {
    if (step.kind == env::StepKind::fence && step.host == isolated && step.ok) fenced_at = step.end_s;
  }
  ASSERT_GT(fenced_at, 0);
  std::size_t moved = 0;
  for (auto vm : pod16().vms_on(isolated)) {
    for (const auto& step : result.timeline) {
      if (step.vm == vm && step.kind == env::StepKind::vm_start) {
        EXPECT_GE(step.start_s, fenced_at);
      }
    }
    EXPECT_EQ(report_of(result, vm).state, VmState::running);
    ++moved;
  }
  EXPECT_GT(moved, 0u);
  EXPECT_EQ(result.double_runs, 0u);
}

TEST(Executor, TargetIsolatedMidRecoveryIsFencedAndItsVmsRunOnce) {
  auto base = simulate_pod16();
  auto target = busiest_target(base);
  auto result = simulate_pod16("  - {at: 70, isolate: [" + pod16().hosts[target].name +
                               "], channels: [agent, hypervisor, storage]}\n");
  for (const auto& vm : result.vms) {
    EXPECT_EQ(vm.state, VmState::running) << pod16().vms[vm.vm].name << ": " << vm.reason;
    EXPECT_NE(vm.to, target);
  }
  EXPECT_EQ(result.double_runs, 0u);
}

TEST(Executor, TightCloudLeavesVmsWaitingWithReasonsAndRestartsTheRest) {
  const auto& cloud = cloud_of("tight-8");
  auto text = sim::load_scenario_file((examples_dir() / "tight-8/scenario.yaml").string(), cloud);
  for (auto strategy : {Strategy::serial, Strategy::parallel, Strategy::revive}) {
    sim::SimulationOptions options;
    options.strategy = strategy;
    auto result = sim::run_simulation(cloud, text, options);
    expect_invariants(cloud, result);
    EXPECT_GT(result.restarted, 0u);
    EXPECT_GT(result.waiting, 0u);
    EXPECT_EQ(result.restarted + result.waiting, result.vms.size());
  }
}

// Fences queued behind fence_max_parallel go, under revive, in the order the VMs need them: the VMs of the
// third host declared failed, pinned to one target that restarts one VM at a time, must begin at once, so
// that host is fenced before the second; first come first served under parallel.
TEST(Executor, QueuedFencesGoFirstToTheHostWhoseVmsMustStartFirst) {
  model::GeneratorOptions options;
  options.hosts = 20;
  options.vms = 100;
  options.seed = 3;
  auto cloud = model::generate_cloud(options);
  cloud.policy.fence_max_parallel = 1;
  cloud.policy.host_max_parallel_restarts = 1;
  auto pin = model::Label{cloud.symbols.intern("pin"), cloud.symbols.intern("yes")};
  cloud.hosts[10].labels.push_back(pin);
  std::vector<std::string> failed;
  for (model::HostIndex h = 0; h < 3; ++h) {
    failed.push_back(cloud.hosts[h].name);
    for (auto vm : cloud.vms_on(h)) cloud.vms[vm].protect = true;
  }
  for (auto vm : cloud.vms_on(2)) cloud.vms[vm].require_labels.push_back(pin);
  ASSERT_GE(cloud.vms_on(2).size(), 3u);
  cloud.rebuild_indexes();
  std::string scenario = std::string(kPod16Head);
  scenario.replace(scenario.find("[host-0006, host-0015]"), 22,
                   fmt::format("[{}, {}, {}]", failed[0], failed[1], failed[2]));
  auto fence_begins = [&](const SimulationResult& result) {
    std::map<std::string, double> begins;
    for (const auto& step : result.timeline) {
      if (step.kind == env::StepKind::fence) begins.emplace(cloud.hosts[step.host].name, step.start_s);
    }
    return begins;
  };
  auto revive = simulate(cloud, scenario, Strategy::revive);
  auto parallel = simulate(cloud, scenario, Strategy::parallel);
  auto revive_fences = fence_begins(revive), parallel_fences = fence_begins(parallel);
  ASSERT_EQ(revive_fences.size(), 3u);
  ASSERT_EQ(parallel_fences.size(), 3u);
  EXPECT_LT(revive_fences[failed[2]], revive_fences[failed[1]]);
  EXPECT_LT(parallel_fences[failed[1]], parallel_fences[failed[2]]);
  EXPECT_EQ(revive.waiting, 0u);
  EXPECT_LT(revive.makespan_s, parallel.makespan_s);
}

TEST(Executor, AfterDependenciesStartOnlyOnceTheirVmsRun) {
  // Make vm-000157 wait for vm-000161 (both on host-0006).
  model::Cloud cloud = pod16();
  auto waiting_vm = cloud.find_vm("vm-000157");
  auto awaited = cloud.find_vm("vm-000161");
  cloud.vms[waiting_vm].after.push_back(awaited);
  cloud.rebuild_indexes();
  auto result = simulate(cloud, kPod16Head, Strategy::revive);
  const sim::TimelineStep* dependent_start = nullptr;
  const sim::TimelineStep* awaited_start = nullptr;
  for (const auto& step : result.timeline) {
    if (step.kind == env::StepKind::vm_start && step.vm == waiting_vm && step.ok) dependent_start = &step;
    if (step.kind == env::StepKind::vm_start && step.vm == awaited && step.ok) awaited_start = &step;
  }
  ASSERT_TRUE(dependent_start && awaited_start);
  EXPECT_GE(dependent_start->start_s, awaited_start->end_s);
}

TEST(Executor, RandomFaultsNeverBreakTheInvariants) {
  const auto& cloud = pod16();
  for (int seed = 1; seed <= 12; ++seed) {
    std::string events = fmt::format(
        "  - {{at: {}, fail: [host-{:04d}]}}\n"
        "  - {{at: {}, isolate: [host-{:04d}], channels: [agent, hypervisor, storage]}}\n"
        "  - {{at: 0, fail_step: {{vm: vm-{:06d}, step: vm_start, times: {}}}}}\n"
        "  - {{at: 0, fail_step: {{vm: vm-{:06d}, step: disk_map, times: 2}}}}\n"
        "  - {{at: 10, slow_step: {{endpoint: mgmt-1, factor: 2, until: 90}}}}\n",
        20 + seed * 7, 1 + (seed * 5) % 16, 40 + seed * 11, 1 + (seed * 3 + 7) % 16, 150 + seed * 3,
        1 + seed % 4, 160 + seed);
    std::string text =
        std::string(kPod16Head)
            .replace(std::string(kPod16Head).find("seed: 7"), 7, "seed: " + std::to_string(seed)) +
        events;
    for (auto strategy : {Strategy::serial, Strategy::parallel, Strategy::revive}) {
      SCOPED_TRACE(fmt::format("seed {} strategy {}", seed, to_string(strategy)));
      auto result = simulate(cloud, text, strategy);
      EXPECT_GT(result.restarted, 0u);
    }
  }
}

TEST(Executor, JournalsIntentBeforeActingAndResultsAfter) {
  const auto& cloud = pod16();
  auto scenario = sim::load_scenario_text(kPod16Head, "scn.yaml", cloud);
  sim::SimEventLoop loop;
  sim::SimWorld world(cloud, scenario, loop);
  sim::InMemoryJournal journal;
  Environment environment{loop,   world.hypervisor(), world.storage(), world.network(), world.fencer(),
                          journal};
  Executor executor(cloud, environment);
  loop.schedule_at(5.0, [&] {
    executor.on_host_failed(cloud.find_host("host-0006"));
    executor.on_host_failed(cloud.find_host("host-0015"));
  });
  std::size_t plans = 0;
  executor.set_plan_observer([&](const plan::Plan&) { ++plans; });
  loop.run();
  executor.finalize();
  EXPECT_EQ(plans, 1u);  // both hosts planned in one pass
  auto records = journal.read_all();
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records[0].kind, "host_failed");
  std::map<std::string, int> open;
  std::size_t started = 0, done = 0;
  for (const auto& record : records) {
    if (record.kind == "step_started") {
      ++open[record.payload.substr(0, record.payload.find(",\"attempt\""))];
      ++started;
    } else if (record.kind == "step_done") {
      auto key = record.payload.substr(0, record.payload.find(",\"attempt\""));
      EXPECT_GT(open[key], 0) << "result journaled before intent: " << record.payload;
      --open[key];
      ++done;
    }
  }
  EXPECT_EQ(started, done);
  auto vms_running = std::count_if(records.begin(), records.end(),
                                   [](const env::JournalRecord& r) { return r.kind == "vm_running"; });
  EXPECT_EQ(vms_running, 48);
}

}  // namespace
}  // namespace revive::exec

namespace revive::exec {
namespace {

// The VMs of the failed hosts that run, each exactly once and on another host, as the world sees them.
std::size_t vms_running_once_elsewhere(const model::Cloud& cloud, const sim::SimWorld& world,
                                       std::initializer_list<model::HostIndex> failed,
                                       const std::string& context) {
  std::size_t running = 0;
  for (auto host : failed) {
    for (auto vm : cloud.vms_on(host)) {
      const auto& copies = world.running_on(vm);
      EXPECT_EQ(copies.size(), 1u) << cloud.vms[vm].name << " " << context;
      if (copies.size() == 1 && copies.front() != host) ++running;
    }
  }
  return running;
}

// A controller that dies mid-recovery; another starts later with the same journal and finishes the job.
TEST(Executor, ResumesFromTheJournalAfterTheControllerDies) {
  const auto& cloud = pod16();
  auto scenario = sim::load_scenario_text(kPod16Head, "scn.yaml", cloud);
  sim::SimEventLoop loop;
  sim::SimWorld world(cloud, scenario, loop);
  sim::SimEstimator estimator(world, scenario, sim::SimEstimator::Mode::history);
  sim::InMemoryJournal journal;
  Environment environment{loop,    world.hypervisor(), world.storage(), world.network(), world.fencer(),
                          journal, &estimator};
  auto failed = {cloud.find_host("host-0006"), cloud.find_host("host-0015")};
  for (auto host : failed) world.crash_host(host);
  Executor first(cloud, environment);
  std::unique_ptr<Executor> second;
  std::set<std::string> done_before_crash;
  std::size_t running_before_crash = 0;
  loop.schedule_at(5.0, [&] {
    for (auto host : failed) first.on_host_failed(host);
  });
  loop.schedule_at(60.0, [&] {
    first.halt();
    for (const auto& record : journal.read_all()) {
      if (record.kind == "step_done")
        done_before_crash.insert(record.payload.substr(0, record.payload.find(",\"attempt\"")));
      if (record.kind == "vm_running") ++running_before_crash;
    }
  });
  // The standby controller takes over once the dead one's calls have drained.
  loop.schedule_at(240.0, [&] {
    second = std::make_unique<Executor>(cloud, environment);
    second->resume();
  });
  loop.run();
  ASSERT_TRUE(second);
  second->finalize();

  EXPECT_TRUE(world.violations().empty()) << world.violations().front();
  EXPECT_EQ(world.double_runs(), 0u);
  EXPECT_EQ(vms_running_once_elsewhere(cloud, world, failed, ""), 48u);
  EXPECT_GT(done_before_crash.size(), 0u);
  EXPECT_LT(running_before_crash, 48u);  // the crash really interrupted the recovery
  // Nothing the first controller journaled as done is done again by the second.
  std::size_t repeated = 0, issued_after = 0;
  bool resumed = false;
  for (const auto& record : journal.read_all()) {
    if (record.kind == "resumed") resumed = true;
    if (!resumed || record.kind != "step_started") continue;
    ++issued_after;
    auto key = record.payload.substr(0, record.payload.find(",\"attempt\""));
    if (done_before_crash.count(key) != 0 && key.find("\"step\":\"vm_start\"") == std::string::npos)
      ++repeated;
  }
  EXPECT_TRUE(resumed);
  EXPECT_GT(issued_after, 0u);
  EXPECT_EQ(repeated, 0u);
}

// A resumed controller fences, like the first one, only the failed hosts whose recovery needs the proof (or
// whose fence the first had begun): a failed host with nothing protected on it is left alone.
TEST(Executor, AResumedControllerDoesNotFenceAFailedHostWithNothingToRecover) {
  auto cloud = pod16();
  auto idle = cloud.find_host("host-0015");
  for (auto vm : cloud.vms_on(idle)) cloud.vms[vm].protect = false;
  auto scenario = sim::load_scenario_text(kPod16Head, "scn.yaml", cloud);
  sim::SimEventLoop loop;
  sim::SimWorld world(cloud, scenario, loop);
  sim::SimEstimator estimator(world, scenario, sim::SimEstimator::Mode::history);
  sim::InMemoryJournal journal;
  Environment environment{loop,    world.hypervisor(), world.storage(), world.network(), world.fencer(),
                          journal, &estimator};
  auto failed = {cloud.find_host("host-0006"), idle};
  for (auto host : failed) world.crash_host(host);
  Executor first(cloud, environment);
  std::unique_ptr<Executor> second;
  loop.schedule_at(5.0, [&] {
    for (auto host : failed) first.on_host_failed(host);
  });
  loop.schedule_at(5.5, [&] { first.halt(); });
  loop.schedule_at(240.0, [&] {
    second = std::make_unique<Executor>(cloud, environment);
    second->resume();
  });
  loop.run();
  ASSERT_TRUE(second);
  second->finalize();
  EXPECT_TRUE(world.violations().empty()) << world.violations().front();
  std::size_t fences_of_idle = 0, fences_after_resume = 0;
  bool resumed = false;
  for (const auto& record : journal.read_all()) {
    if (record.kind == "resumed") resumed = true;
    if (record.kind != "fence_started") continue;
    if (record.payload.find("\"host-0015\"") != std::string::npos) ++fences_of_idle;
    if (resumed) ++fences_after_resume;
  }
  EXPECT_TRUE(resumed);
  EXPECT_EQ(fences_of_idle, 0u) << "nothing protected ran on host-0015";
  EXPECT_GT(fences_after_resume, 0u) << "host-0006's fence, begun before the crash, is finished";
  EXPECT_EQ(vms_running_once_elsewhere(cloud, world, {cloud.find_host("host-0006")}, ""),
            cloud.vms_on(cloud.find_host("host-0006")).size());
}

// The shared host availability view: a host whose fence another (the detector's fence chain) confirmed is
// not fenced a second time; hosts not up receive nothing and are targets again once up.
TEST(Executor, TakesAConfirmedFenceAndTargetsHostsOnlyWhileTheyAreUp) {
  const auto& cloud = pod16();
  auto scenario = sim::load_scenario_text(kPod16Head, "scn.yaml", cloud);
  sim::SimEventLoop loop;
  sim::SimWorld world(cloud, scenario, loop);
  sim::SimEstimator estimator(world, scenario, sim::SimEstimator::Mode::history);
  sim::InMemoryJournal journal;
  HostAvailability availability(cloud.hosts.size());
  Environment environment{loop,    world.hypervisor(), world.storage(), world.network(), world.fencer(),
                          journal, &estimator,         nullptr,         &availability};
  Executor executor(cloud, environment);
  auto failed = cloud.find_host("host-0006");
  world.crash_host(failed);
  // Every other host is suspect at first: nothing may be started anywhere until they are up again.
  for (model::HostIndex h = 0; h < cloud.hosts.size(); ++h) {
    if (h != failed) availability.set(h, HostAvailability::Reason::not_up, true);
  }
  // The detector's fence chain fences the host, confirms it, then declares it failed.
  world.fencer().fence(failed, [&](const env::OperationResult& result) {
    ASSERT_TRUE(result.ok);
    availability.confirm_fenced(failed);
    executor.on_host_failed(failed);
  });
  double up_again_s = 30.0;
  loop.schedule_at(up_again_s, [&] {
    for (model::HostIndex h = 0; h < cloud.hosts.size(); ++h) {
      availability.set(h, HostAvailability::Reason::not_up, false);
    }
  });
  loop.run();
  executor.finalize();
  EXPECT_TRUE(world.violations().empty()) << world.violations().front();
  std::size_t fences = 0;
  for (const auto& step : world.timeline()) {
    if (step.kind == env::StepKind::fence) ++fences;
    if (step.kind == env::StepKind::vm_start) {
      EXPECT_GE(step.start_s, up_again_s);
    }
  }
  EXPECT_EQ(fences, 1u);  // the detector's; the executor took it
  auto report = executor.report();
  EXPECT_EQ(report.size(), cloud.vms_on(failed).size());
  for (const auto& vm : report) {
    EXPECT_EQ(vm.state, VmState::running) << cloud.vms[vm.vm].name << ": " << vm.reason;
  }
}

}  // namespace
}  // namespace revive::exec

namespace revive::exec {
namespace {

// A journal that kills its controller right after the n-th record of one kind (and, for step records, one
// step kind) was appended: the controller has journaled its intent and issued the call, and hears nothing
// more. The calls it made run on in the world.
class KillingJournal final : public env::Journal {
 public:
  KillingJournal(sim::SimEventLoop& loop, std::string kind, std::string step, int nth)
      : loop_(loop), kind_(std::move(kind)), step_(std::move(step)), nth_(nth) {}
  std::uint64_t append(const env::JournalRecord& record) override {
    records_.push_back(record);
    if (victim_ != nullptr && !killed_ && record.kind == kind_ &&
        (step_.empty() || record.payload.find(fmt::format(R"("step":"{}")", step_)) != std::string::npos) &&
        ++seen_ == nth_) {
      killed_ = true;
      victim_->halt();
      killed_at_s_ = loop_.now_s();
    }
    return records_.size();
  }
  std::uint64_t last_appended() const override { return records_.size(); }
  std::vector<env::JournalRecord> read_all() const override { return records_; }
  void watch(Executor* victim) { victim_ = victim; }
  bool killed() const { return killed_; }
  double killed_at_s() const { return killed_at_s_; }

 private:
  sim::SimEventLoop& loop_;
  std::string kind_, step_;
  int nth_;
  int seen_ = 0;
  bool killed_ = false;
  double killed_at_s_ = -1.0;
  Executor* victim_ = nullptr;
  std::vector<env::JournalRecord> records_;
};

struct KillPoint {
  const char* kind;
  const char* step;
  int nth;
};

class ExecutorKilledAt : public ::testing::TestWithParam<KillPoint> {};

std::string kill_point_name(const ::testing::TestParamInfo<KillPoint>& param_info) {
  const auto& point = param_info.param;
  return fmt::format("{}_{}_{}", point.kind, point.step[0] ? point.step : "any", point.nth);
}

// The controller is killed at a journal record with operations in flight (starts, maps, fences), and a new
// one resumes from the journal at once: every VM of the failed hosts ends running exactly once, and the
// simulator's world sees no invariant broken (two copies, start before fence or remap, limits).
// Runs pod-16 with host-0006 and host-0015 crashing (and `extra_events`), kills the controller at `point`,
// starts a new one at once that resumes from the journal (with the world's view of the calls in progress
// when `with_calls`), and checks the world: no invariant broken (two copies, start before fence or remap,
// every limit), every VM of the failed hosts running once elsewhere.
void expect_resumed_run_keeps_every_invariant(const KillPoint& point, const std::string& extra_events,
                                              bool with_calls) {
  const auto& cloud = pod16();
  auto scenario = sim::load_scenario_text(std::string(kPod16Head) + extra_events, "scn.yaml", cloud);
  sim::SimEventLoop loop;
  sim::SimWorld world(cloud, scenario, loop);
  for (const auto& event : scenario.events) {
    if (event.kind == sim::ScenarioEvent::Kind::slow_step) world.add_slowdown(event);
    if (event.kind == sim::ScenarioEvent::Kind::fail_step) world.arm_fail_step(event);
  }
  sim::SimEstimator estimator(world, scenario, sim::SimEstimator::Mode::history);
  KillingJournal journal(loop, point.kind, point.step, point.nth);
  Environment environment{loop,    world.hypervisor(), world.storage(), world.network(), world.fencer(),
                          journal, &estimator};
  if (with_calls) environment.calls = &world.calls();
  auto failed = {cloud.find_host("host-0006"), cloud.find_host("host-0015")};
  for (auto host : failed) world.crash_host(host);
  Executor first(cloud, environment);
  journal.watch(&first);
  std::unique_ptr<Executor> second;
  loop.schedule_at(5.0, [&] {
    for (auto host : failed) first.on_host_failed(host);
  });
  // The new controller starts as soon as the old one died (checked every second of virtual time).
  std::function<void()> watch_for_death = [&] {
    if (journal.killed()) {
      second = std::make_unique<Executor>(cloud, environment);
      second->resume();
      // The detector tells the new controller its verdicts (a dead controller journals none it heard).
      for (auto host : failed) second->on_host_failed(host);
      return;
    }
    if (loop.now_s() < 4000) loop.schedule_after(1.0, watch_for_death);
  };
  loop.schedule_at(5.0, watch_for_death);
  loop.run();
  ASSERT_TRUE(journal.killed()) << "no record " << point.kind << " " << point.step << " #" << point.nth;
  ASSERT_TRUE(second);
  second->finalize();
  EXPECT_TRUE(world.violations().empty()) << world.violations().front();
  EXPECT_EQ(world.double_runs(), 0u);
  EXPECT_EQ(
      vms_running_once_elsewhere(cloud, world, failed, fmt::format("killed at {} s", journal.killed_at_s())),
      48u);
}

TEST_P(ExecutorKilledAt, ResumesWithOperationsInFlight) {
  expect_resumed_run_keeps_every_invariant(GetParam(), "", false);
}

INSTANTIATE_TEST_SUITE_P(
    EveryRecordKind, ExecutorKilledAt,
    ::testing::Values(KillPoint{"host_failed", "", 1}, KillPoint{"host_failed", "", 2},
                      KillPoint{"fence_started", "", 1}, KillPoint{"fence_done", "", 1},
                      KillPoint{"plan", "", 1}, KillPoint{"step_started", "disk_unmap", 3},
                      KillPoint{"step_done", "disk_unmap", 5}, KillPoint{"step_started", "disk_map", 1},
                      KillPoint{"step_done", "disk_map", 20}, KillPoint{"step_started", "net_config", 4},
                      KillPoint{"step_started", "vm_start", 1}, KillPoint{"step_started", "vm_start", 30},
                      KillPoint{"step_done", "vm_start", 10}, KillPoint{"vm_running", "", 47}),
    kill_point_name);

// The same in a hostile run: the endpoint and an array slowed far past the step timeouts (starts, maps and
// unmaps given up on while they still run, retried beside them, answered late) and a fence failing once, the
// controller killed at each kind of record this gives (step_failed timed out and not, step_answered,
// fence_failed), a new one resuming at once with the world's view of the calls in progress: the dead
// controller's calls count against every limit until they end (the world checks each from the spec), no
// two copies, every VM running once.
class ExecutorKilledInAHostileRun : public ::testing::TestWithParam<KillPoint> {};

constexpr const char* kHostileEvents = R"(  - {at: 0, slow_step: {endpoint: mgmt-1, factor: 6, until: 800}}
  - {at: 0, slow_step: {array: array-2, factor: 30, until: 400}}
  - {at: 0, fail_step: {host: host-0006, step: fence, times: 1}}
)";

TEST_P(ExecutorKilledInAHostileRun, ResumesWithSlowCallsStillRunning) {
  expect_resumed_run_keeps_every_invariant(GetParam(), kHostileEvents, true);
}

INSTANTIATE_TEST_SUITE_P(
    EveryRecordKind, ExecutorKilledInAHostileRun,
    ::testing::Values(KillPoint{"fence_failed", "", 1}, KillPoint{"fence_done", "", 1},
                      KillPoint{"step_failed", "disk_unmap", 1}, KillPoint{"step_failed", "disk_map", 2},
                      KillPoint{"step_answered", "disk_map", 1}, KillPoint{"step_started", "vm_start", 33},
                      KillPoint{"step_failed", "vm_start", 1}, KillPoint{"step_failed", "vm_start", 20},
                      KillPoint{"step_answered", "vm_start", 1}, KillPoint{"step_answered", "vm_start", 16},
                      KillPoint{"vm_running", "", 30}),
    kill_point_name);

}  // namespace
}  // namespace revive::exec

namespace revive::exec {
namespace {

// A fence proves a host off for one loss: after the host returns, a new failure of it is fenced again before
// its VMs restart elsewhere.
// Its VMs were recovered elsewhere the first time: when it fails again nothing needs a proof of it, so it is
// not fenced (fence only where a recovery needs the proof), and the first fence is not taken for a second.
TEST(Executor, AHostThatReturnedKeepsNoProofAndWithNothingToRecoverIsNotFencedAgain) {
  const auto& cloud = pod16();
  auto scenario = sim::load_scenario_text(kPod16Head, "scn.yaml", cloud);
  sim::SimEventLoop loop;
  sim::SimWorld world(cloud, scenario, loop);
  sim::InMemoryJournal journal;
  HostAvailability availability(cloud.hosts.size());
  Environment environment{
      loop,    world.hypervisor(), world.storage(), world.network(), world.fencer(), journal, nullptr,
      nullptr, &availability};
  Executor executor(cloud, environment);
  auto host = cloud.find_host("host-0006");
  executor.on_host_failed(host);
  loop.run();
  EXPECT_TRUE(availability.fenced(host));
  // The host is powered on again and seen up: the proof is over.
  availability.set(host, HostAvailability::Reason::not_up, true);
  availability.set(host, HostAvailability::Reason::not_up, false);
  EXPECT_FALSE(availability.fenced(host));
  executor.on_host_returned(host);
  loop.run();
  executor.on_host_failed(host);
  loop.run();
  int fences = 0, failures = 0;
  for (const auto& record : journal.read_all()) {
    fences += record.kind == "fence_done";
    failures += record.kind == "host_failed";
  }
  EXPECT_EQ(failures, 2);
  EXPECT_EQ(fences, 1);
  EXPECT_FALSE(availability.fenced(host));
  EXPECT_TRUE(world.violations().empty()) << world.violations().front();
}

}  // namespace
}  // namespace revive::exec
