// Evacuations in the full simulator (scenario `evacuate` events, SimWorld's live migrations): limits, every
// VM on exactly one host, deadlines, constraints after the moves, failures, determinism.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "model/inventory.h"
#include "sim/scenario.h"
#include "sim/simulation.h"
#include "support/test_support.h"

namespace revive::sim {
namespace {

const model::Cloud& pod16() {
  static const model::Cloud cloud =
      model::load_inventory_file((revive::testing::examples_dir() / "pod-16/inventory.yaml").string());
  return cloud;
}

Scenario pod16_evacuate() {
  return load_scenario_file((revive::testing::examples_dir() / "pod-16/scenario-evacuate.yaml").string(),
                            pod16());
}

SimulationResult run(const Scenario& scenario, exec::EvacuationStrategy strategy,
                     const model::Cloud& cloud = pod16()) {
  SimulationOptions options;
  options.evacuation_strategy = strategy;
  return run_simulation(cloud, scenario, options);
}

// The simulator's invariants: no limit exceeded, never two copies of a VM, no VM lost.
void expect_safe(const SimulationResult& result) {
  EXPECT_TRUE(result.violations.empty())
      << result.violations.size()
      << " violations, first: " << (result.violations.empty() ? "" : result.violations.front());
  EXPECT_EQ(result.double_runs, 0u);
  EXPECT_EQ(result.lost, 0u);
}

// Where every VM runs at the end, replayed from the timeline (successful migrations and starts).
std::vector<model::HostIndex> final_hosts(const model::Cloud& cloud, const SimulationResult& result) {
  std::vector<model::HostIndex> where(cloud.vms.size());
  for (model::VmIndex v = 0; v < cloud.vms.size(); ++v) where[v] = cloud.vms[v].host;
  std::vector<std::size_t> order(result.timeline.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](auto a, auto b) { return result.timeline[a].end_s < result.timeline[b].end_s; });
  for (auto i : order) {
    const auto& step = result.timeline[i];
    if (!step.finished || !step.ok) continue;
    if (step.kind == env::StepKind::migrate || step.kind == env::StepKind::vm_start)
      where[step.vm] = step.host;
    if (step.kind == env::StepKind::vm_stop) where[step.vm] = model::kNoIndex;
  }
  return where;
}

TEST(EvacuationSimulation, Pod16EveryStrategyKeepsEveryLimitAndEveryVmOnOneHost) {
  auto scenario = pod16_evacuate();
  for (auto strategy : {exec::EvacuationStrategy::sequential, exec::EvacuationStrategy::fixed_8,
                        exec::EvacuationStrategy::revive}) {
    SCOPED_TRACE(std::string(exec::to_string(strategy)));
    auto result = run(scenario, strategy);
    EXPECT_TRUE(result.violations.empty()) << result.violations.front();
    EXPECT_LE(result.peak_migrations_per_host, pod16().policy.host_max_parallel_migrations);
    EXPECT_LE(result.peak_nic_utilisation, 1.0 + 1e-9);
    EXPECT_EQ(result.double_runs, 0u);
    EXPECT_EQ(result.evacuated, 58u);  // 28 + 30 VMs, all protected
    auto where = final_hosts(pod16(), result);
    auto h3 = pod16().find_host("host-0003"), h9 = pod16().find_host("host-0009");
    for (const auto& vm : result.evacuations) {
      EXPECT_NE(where[vm.vm], h3);
      EXPECT_NE(where[vm.vm], h9);
      EXPECT_EQ(where[vm.vm], vm.to) << pod16().vms[vm.vm].name;
    }
  }
}

TEST(EvacuationSimulation, Pod16ReviveMeetsBothDeadlinesTheBaselinesDoNot) {
  auto scenario = pod16_evacuate();
  auto revive = run(scenario, exec::EvacuationStrategy::revive);
  EXPECT_EQ(revive.running_at_deadline, 0u);
  // Every protected VM of the predicted failure (300 s) is off it before the deadline.
  auto h9 = pod16().find_host("host-0009");
  for (const auto& vm : revive.evacuations) {
    if (vm.from != h9) continue;
    EXPECT_GE(vm.off_source_s, 0.0);
    EXPECT_LE(vm.off_source_s, 300.0) << pod16().vms[vm.vm].name;
    if (vm.cold) {
      EXPECT_NE(vm.reason.find("moved cold"), std::string::npos);
      EXPECT_EQ(vm.priority, model::Priority::low) << pod16().vms[vm.vm].name << ": " << vm.reason;
    }
  }
  auto fixed = run(scenario, exec::EvacuationStrategy::fixed_8);
  EXPECT_GT(fixed.running_at_deadline, 0u);
  EXPECT_FALSE(fixed.evacuation_reported.empty());
  EXPECT_LE(revive.makespan_s, 0.75 * fixed.makespan_s);
  // No schedule beats the live-migration bound for the VMs that did move live: per drained host, its last
  // live move ends no earlier than the bound of those VMs alone (the cold ones left out). The whole
  // evacuation ends before the full bound only thanks to cold moves.
  model::Cloud live_only = pod16();
  std::map<model::HostIndex, double> last_live_end;
  for (const auto& vm : revive.evacuations) {
    if (vm.outcome == exec::EvacuationOutcome::migrated) {
      last_live_end[vm.from] = std::max(last_live_end[vm.from], vm.end_s);
    } else {
      live_only.vms[vm.vm].protect = false;  // not counted by the bound
    }
  }
  exec::LiveMigrationParameters parameters;
  parameters.setup_s = scenario.migration.setup_s;
  parameters.downtime_ms = scenario.migration.downtime_ms;
  ASSERT_EQ(last_live_end.size(), 2u);
  for (auto [host, end] : last_live_end) {
    double bound = exec::evacuation_lower_bound_s(live_only, {host}, parameters);
    EXPECT_GT(bound, 0.0);
    EXPECT_GE(end, bound - 1e-6) << pod16().hosts[host].name;
  }
  // The printed bound is of what the run did (the live moves alone, the cold moves as chains): never above
  // the makespan, cold moves or not.
  EXPECT_LE(revive.lower_bound_s, revive.makespan_s + 1e-9);
  EXPECT_LE(revive.tight_bound_s, revive.makespan_s + 1e-9);
  EXPECT_GT(revive.lower_bound_s, 0.0);
}

// Every strategy: a VM of a drained host still on it at that host's deadline (from the timeline, not the
// engine's word) is flagged and carries a reason.
TEST(EvacuationSimulation, NoVmIsLeftRunningAtTheDeadlineUnreported) {
  auto scenario = pod16_evacuate();
  const auto& cloud = pod16();
  std::map<model::HostIndex, double> deadline;
  for (const auto& event : scenario.events) deadline[event.hosts.front()] = event.at_s + event.deadline_s;
  for (auto strategy : {exec::EvacuationStrategy::sequential, exec::EvacuationStrategy::fixed_8,
                        exec::EvacuationStrategy::revive}) {
    SCOPED_TRACE(std::string(exec::to_string(strategy)));
    auto result = run(scenario, strategy);
    std::map<model::VmIndex, double> left;  // when each VM stopped running on its drained host
    for (const auto& step : result.timeline) {
      if (!step.finished || !step.ok) continue;
      if (step.kind == env::StepKind::migrate && deadline.count(step.from)) left[step.vm] = step.end_s;
      if (step.kind == env::StepKind::vm_stop && deadline.count(step.host)) left[step.vm] = step.end_s;
    }
    std::uint32_t flagged = 0;
    for (const auto& vm : result.evacuations) {
      auto off = left.count(vm.vm) ? left[vm.vm] : 1e300;
      bool late = off > deadline[vm.from] + 1e-9;
      EXPECT_EQ(late, vm.running_at_deadline) << cloud.vms[vm.vm].name;
      if (late) {
        ++flagged;
        EXPECT_NE(vm.reason.find("at the deadline"), std::string::npos) << vm.reason;
      }
    }
    EXPECT_EQ(flagged, result.running_at_deadline);
    EXPECT_EQ(result.evacuation_reported.size(), flagged + result.moved_cold);
  }
}

TEST(EvacuationSimulation, ConstraintsHoldAfterTheMoves) {
  auto scenario = pod16_evacuate();
  const auto& cloud = pod16();
  auto result = run(scenario, exec::EvacuationStrategy::revive);
  auto where = final_hosts(cloud, result);
  std::map<model::HostIndex, double> memory, cpus;
  for (model::VmIndex v = 0; v < cloud.vms.size(); ++v) {
    if (where[v] == model::kNoIndex) continue;
    memory[where[v]] += static_cast<double>(cloud.vms[v].memory_mib);
    cpus[where[v]] += cloud.vms[v].cpus;
  }
  for (auto [host, used] : memory) EXPECT_LE(used, cloud.usable_memory_mib(host)) << cloud.hosts[host].name;
  for (auto [host, used] : cpus) EXPECT_LE(used, cloud.usable_cpus(host)) << cloud.hosts[host].name;
  for (const auto& group : cloud.groups) {
    if (group.kind != model::GroupKind::anti_affinity) continue;
    std::map<model::Index, int> per_scope;
    for (auto member : group.members) {
      if (where[member] != model::kNoIndex) ++per_scope[cloud.scope_value(where[member], group.scope)];
    }
    for (auto [scope, count] : per_scope) EXPECT_LE(count, 1) << group.name;
  }
  for (const auto& vm : result.evacuations) {
    for (const auto& label : cloud.vms[vm.vm].require_labels)
      EXPECT_TRUE(cloud.has_label(where[vm.vm], label));
  }
}

// Migration failures are taken as transient: retried with backoff while the deadline allows (5 failures:
// the sixth attempt moves it live), then cold in time (failing for good: moved cold, with the reason).
TEST(EvacuationSimulation, AFailedMigrationIsRetriedThenGoesColdWithTheReason) {
  const auto& cloud = pod16();
  auto h9 = cloud.find_host("host-0009");
  auto victim = cloud.vms_on(h9).front();
  auto outcome_with = [&](int times) {
    auto text = fmt::format(R"(version: 1
seed: 3
migration: {{setup_s: 2, downtime_ms: 300}}
events:
- {{at: 0, evacuate: host-0009, deadline: 600, reason: maintenance}}
- {{at: 0, fail_step: {{vm: {}, step: migrate, times: {}}}}}
)",
                            cloud.vms[victim].name, times);
    auto scenario = load_scenario_text(text, "failing.yaml", cloud);
    auto result = run(scenario, exec::EvacuationStrategy::revive);
    EXPECT_TRUE(result.violations.empty()) << result.violations.front();
    EXPECT_EQ(result.evacuated, 30u);
    EXPECT_EQ(result.running_at_deadline, 0u);
    auto found = std::find_if(result.evacuations.begin(), result.evacuations.end(),
                              [&](const auto& vm) { return vm.vm == victim; });
    EXPECT_NE(found, result.evacuations.end());
    return found == result.evacuations.end() ? exec::EvacuationVmReport{} : *found;
  };
  auto transient = outcome_with(5);
  EXPECT_EQ(transient.outcome, exec::EvacuationOutcome::migrated) << transient.reason;
  EXPECT_EQ(transient.live_attempts, 6u);
  auto for_good = outcome_with(1000);
  EXPECT_EQ(for_good.outcome, exec::EvacuationOutcome::moved_cold) << for_good.reason;
  EXPECT_NE(for_good.reason.find("live attempts failed"), std::string::npos) << for_good.reason;
}

TEST(EvacuationSimulation, ATargetThatDiesMidMigrationIsAvoided) {
  const auto& cloud = pod16();
  // Find where revive sends the first VMs of host-0009, then crash that target 1 s in (before any of its
  // migrations could end: setup alone takes 2 s).
  auto base = load_scenario_text(
      "version: 1\nseed: 3\nevents:\n- {at: 0, evacuate: host-0009, deadline: 900}\n", "base.yaml", cloud);
  auto first = run(base, exec::EvacuationStrategy::revive);
  model::HostIndex target = model::kNoIndex;
  for (const auto& step : first.timeline) {
    if (step.kind == env::StepKind::migrate && step.start_s < 1.0) target = step.host;
  }
  ASSERT_NE(target, model::kNoIndex);
  auto crash = load_scenario_text(
      "version: 1\nseed: 3\nevents:\n- {at: 0, evacuate: host-0009, deadline: 900}\n"
      "- {at: 1, fail: [" +
          cloud.hosts[target].name + "]}\n",
      "crash.yaml", cloud);
  auto result = run(crash, exec::EvacuationStrategy::revive);
  EXPECT_TRUE(result.violations.empty()) << result.violations.front();
  for (const auto& vm : result.evacuations) EXPECT_NE(vm.to, target) << cloud.vms[vm.vm].name;
  // No migration to it starts after the crash.
  for (const auto& step : result.timeline) {
    if (step.kind == env::StepKind::migrate && step.host == target) {
      EXPECT_LT(step.start_s, 1.0);
    }
  }
  int moved = 0;
  for (const auto& vm : result.evacuations) {
    moved +=
        vm.outcome == exec::EvacuationOutcome::migrated || vm.outcome == exec::EvacuationOutcome::moved_cold;
  }
  EXPECT_EQ(moved, 30);
}

// The predicted failure comes true 60 s in, long before the deadline: what was moved stays moved, the rest is
// recovered by the executor (fence, remap, restart), never twice.
TEST(EvacuationSimulation, PredictedFailureThatHappensEarlyIsRecoveredWithoutDoubleRuns) {
  const auto& cloud = pod16();
  auto scenario = load_scenario_text(
      "version: 1\nseed: 7\nlatency: {detect: 5}\nevents:\n"
      "- {at: 0, evacuate: host-0009, deadline: 300, reason: predicted-failure}\n"
      "- {at: 60, fail: [host-0009]}\n",
      "early.yaml", cloud);
  auto result = run(scenario, exec::EvacuationStrategy::revive);
  expect_safe(result);
  EXPECT_GT(result.evacuated, 0u);
  EXPECT_GT(result.restarted, 0u);
  EXPECT_EQ(result.evacuated + result.restarted, 30u);
  auto where = final_hosts(cloud, result);
  auto h9 = cloud.find_host("host-0009");
  for (auto vm : cloud.vms_on(h9)) {
    EXPECT_NE(where[vm], h9) << cloud.vms[vm].name;
    EXPECT_NE(where[vm], model::kNoIndex) << cloud.vms[vm].name;
  }
}

TEST(EvacuationSimulation, SameScenarioGivesByteIdenticalOutputs) {
  auto scenario = pod16_evacuate();
  auto a = run(scenario, exec::EvacuationStrategy::revive);
  auto b = run(scenario, exec::EvacuationStrategy::revive);
  auto summary_a = summary_json(a), summary_b = summary_json(b);
  summary_a.erase("wall_ms");
  summary_b.erase("wall_ms");
  EXPECT_EQ(summary_a.dump(), summary_b.dump());
  EXPECT_EQ(timeline_json(pod16(), a).dump(), timeline_json(pod16(), b).dump());
}

TEST(EvacuationSimulation, TimelineShowsMigrationsWithSourceRoundsAndDowntime) {
  auto result = run(pod16_evacuate(), exec::EvacuationStrategy::revive);
  auto json = timeline_json(pod16(), result);
  int migrations = 0;
  for (const auto& step : json["steps"]) {
    if (step["step"] != "migrate") continue;
    ++migrations;
    EXPECT_TRUE(step["from"] == "host-0003" || step["from"] == "host-0009") << step.dump();
    if (!step["ok"].get<bool>()) continue;
    EXPECT_GE(step["rounds"].get<int>(), 1);
    // Stop-and-copy starts when the remainder fits 300 ms at the share of that moment; a share that shrinks
    // during it (another migration starts transferring) makes the pause longer.
    EXPECT_LE(step["downtime_s"].get<double>(), 1.0);
    EXPECT_GT(step["downtime_s"].get<double>(), 0.0);
  }
  EXPECT_EQ(migrations, static_cast<int>(result.migrated) +
                            static_cast<int>(std::count_if(
                                result.timeline.begin(), result.timeline.end(), [](const auto& s) {
                                  return s.kind == env::StepKind::migrate && !(s.finished && s.ok);
                                })));
}

// pod-16 with one endpoint and two arrays of 2 slots each: recovery and cold moves compete for the same
// slots.
model::Cloud pod16_tight_limits() {
  model::Cloud cloud = pod16();
  for (auto& endpoint : cloud.endpoints) endpoint.max_parallel = 2;
  for (auto& array : cloud.arrays) array.max_parallel = 2;
  return cloud;
}

// A host fails while another is evacuated on a predicted failure with a deadline so short that its VMs go
// cold at once: the executor's restarts and the evacuation engine's cold moves run at the same instants
// through the same endpoint and arrays, and together stay within every limit (one ledger of slots).
TEST(EvacuationSimulation, RecoveryAndColdMovesAtOnceKeepEverySharedLimit) {
  auto cloud = pod16_tight_limits();
  auto scenario = load_scenario_text(
      "version: 1\nseed: 7\nlatency: {detect: 5}\nevents:\n"
      "- {at: 0, evacuate: host-0009, deadline: 40, reason: predicted-failure}\n"
      "- {at: 0, fail: [host-0003]}\n",
      "shared-limits.yaml", cloud);
  auto result = run(scenario, exec::EvacuationStrategy::revive, cloud);
  expect_safe(result);
  EXPECT_GT(result.moved_cold, 0u);
  EXPECT_EQ(result.restarted, 28u);  // every VM of host-0003
  EXPECT_EQ(result.evacuated, 30u);  // every VM of host-0009
  // Every VM ends on exactly one host: the failed host's VMs off it, the drained host's VMs off it.
  auto where = final_hosts(cloud, result);
  auto h3 = cloud.find_host("host-0003"), h9 = cloud.find_host("host-0009");
  for (model::VmIndex v = 0; v < cloud.vms.size(); ++v) {
    if (!cloud.vms[v].protect) continue;
    EXPECT_NE(where[v], model::kNoIndex) << cloud.vms[v].name;
    EXPECT_NE(where[v], h3) << cloud.vms[v].name;
    if (cloud.vms[v].host == h9) {
      EXPECT_NE(where[v], h9) << cloud.vms[v].name;
    }
  }
}

// The same run: the executor knows which hosts the evacuation engine drains (one shared view of host
// availability), so no VM of the failed host is restarted onto the drained one (to be moved again, or to
// fail with it).
TEST(EvacuationSimulation, RecoveryNeverRestartsOntoAHostBeingDrained) {
  auto cloud = pod16_tight_limits();
  auto scenario = load_scenario_text(
      "version: 1\nseed: 7\nlatency: {detect: 5}\nevents:\n"
      "- {at: 0, evacuate: host-0009, deadline: 40, reason: predicted-failure}\n"
      "- {at: 0, fail: [host-0003]}\n",
      "shared-limits.yaml", cloud);
  auto result = run(scenario, exec::EvacuationStrategy::revive, cloud);
  EXPECT_TRUE(result.violations.empty());
  auto where = final_hosts(cloud, result);
  auto h3 = cloud.find_host("host-0003"), h9 = cloud.find_host("host-0009");
  std::size_t from_failed = 0;
  for (model::VmIndex v = 0; v < cloud.vms.size(); ++v) {
    if (cloud.vms[v].host != h3 || !cloud.vms[v].protect) continue;
    ++from_failed;
    EXPECT_NE(where[v], h9) << cloud.vms[v].name << " was restarted onto the drained host";
  }
  EXPECT_EQ(from_failed, 28u);
  for (const auto& vm : result.vms) {
    EXPECT_NE(vm.to, h9) << cloud.vms[vm.vm].name;
  }
  for (const auto& step : result.timeline) {
    if (step.kind == env::StepKind::vm_start) {
      EXPECT_NE(step.host, h9) << "a start on the drained host: " << cloud.vms[step.vm].name;
    }
  }
}

// A host drained while the executor's restarts are already planned: the VMs planned onto it whose start has
// not begun are planned again elsewhere.
TEST(EvacuationSimulation, RestartsPlannedOntoAHostDrainedLaterGoElsewhere) {
  auto cloud = pod16_tight_limits();
  auto plain = run(load_scenario_text("version: 1\nseed: 7\nlatency: {detect: 5}\nevents:\n"
                                      "- {at: 0, fail: [host-0003]}\n",
                                      "fail-only.yaml", cloud),
                   exec::EvacuationStrategy::revive, cloud);
  // The busiest target of the plain recovery, drained a moment after the executor planned.
  std::map<model::HostIndex, int> per_target;
  for (const auto& vm : plain.vms) ++per_target[vm.to];
  auto busiest = std::max_element(per_target.begin(), per_target.end(), [](const auto& a, const auto& b) {
                   return a.second < b.second;
                 })->first;
  ASSERT_NE(busiest, model::kNoIndex);
  auto scenario = load_scenario_text(
      "version: 1\nseed: 7\nlatency: {detect: 5}\nevents:\n- {at: 0, fail: [host-0003]}\n"
      "- {at: 5.5, evacuate: " +
          cloud.hosts[busiest].name + ", deadline: 600, reason: maintenance}\n",
      "drain-later.yaml", cloud);
  auto result = run(scenario, exec::EvacuationStrategy::revive, cloud);
  EXPECT_TRUE(result.violations.empty()) << (result.violations.empty() ? "" : result.violations.front());
  EXPECT_EQ(result.restarted, 28u);
  for (const auto& step : result.timeline) {
    if (step.kind == env::StepKind::vm_start && step.start_s > 5.5) {
      EXPECT_NE(step.host, busiest) << "a start on the drained host: " << cloud.vms[step.vm].name;
    }
  }
}

// A host drained on a predicted failure fails while the evacuation engine's stop runs on it through the only
// endpoint slot (limit 1): the stop never answers. Its slot comes back once the host is confirmed fenced, so
// the executor's restarts through that endpoint go on and every VM of the host runs again.
TEST(EvacuationSimulation, SlotOfAStopOnALostHostComesBackAtItsFence) {
  model::Cloud cloud = pod16();
  for (auto& endpoint : cloud.endpoints) endpoint.max_parallel = 1;
  auto scenario = load_scenario_text(
      "version: 1\nseed: 7\nlatency: {detect: 5}\nevents:\n"
      "- {at: 0, evacuate: host-0009, deadline: 40, reason: predicted-failure}\n"
      "- {at: 5, fail: [host-0009]}\n",
      "lost-during-stop.yaml", cloud);
  auto result = run(scenario, exec::EvacuationStrategy::revive, cloud);
  expect_safe(result);
  auto h9 = cloud.find_host("host-0009");
  // A stop really was cut short by the failure.
  bool cut_short = false;
  for (const auto& step : result.timeline) {
    if (step.kind == env::StepKind::vm_stop && step.host == h9 && step.start_s < 5 && step.end_s >= 5) {
      cut_short = true;
    }
  }
  EXPECT_TRUE(cut_short);
  auto where = final_hosts(cloud, result);
  std::size_t protected_vms = 0;
  for (model::VmIndex v = 0; v < cloud.vms.size(); ++v) {
    if (cloud.vms[v].host != h9 || !cloud.vms[v].protect) continue;
    ++protected_vms;
    EXPECT_NE(where[v], model::kNoIndex) << cloud.vms[v].name << " does not run";
    EXPECT_NE(where[v], h9) << cloud.vms[v].name;
  }
  EXPECT_GT(protected_vms, 0u);
  EXPECT_EQ(result.waiting, 0u);
}

// Two drains overlapping: host-0009 on a predicted failure (cold moves at once), then, while those moves run,
// the target of one of them. Both drains finish: every VM of either host ends on a third host, reported so.
TEST(EvacuationSimulation, OverlappingDrainsFinishWithNoVmOnEitherHost) {
  const auto& cloud = pod16();
  auto h9 = cloud.find_host("host-0009");
  auto base =
      run(load_scenario_text("version: 1\nseed: 7\nevents:\n"
                             "- {at: 0, evacuate: host-0009, deadline: 120, reason: predicted-failure}\n",
                             "base.yaml", cloud),
          exec::EvacuationStrategy::revive);
  std::map<model::HostIndex, int> cold_targets;
  for (const auto& vm : base.evacuations) {
    if (vm.cold && vm.to != model::kNoIndex) ++cold_targets[vm.to];
  }
  ASSERT_FALSE(cold_targets.empty());
  auto second = cold_targets.begin()->first;
  for (double at : {0.0, 10.0, 30.0, 70.0}) {
    SCOPED_TRACE(fmt::format("{} drained at {} s", cloud.hosts[second].name, at));
    auto scenario = load_scenario_text(
        fmt::format("version: 1\nseed: 7\nevents:\n"
                    "- {{at: 0, evacuate: host-0009, deadline: 120, reason: predicted-failure}}\n"
                    "- {{at: {}, evacuate: {}, deadline: 900, reason: maintenance}}\n",
                    at, cloud.hosts[second].name),
        "overlap.yaml", cloud);
    auto result = run(scenario, exec::EvacuationStrategy::revive);
    expect_safe(result);
    auto where = final_hosts(cloud, result);
    for (model::VmIndex v = 0; v < cloud.vms.size(); ++v) {
      if (cloud.vms[v].host != h9 && cloud.vms[v].host != second) continue;
      EXPECT_NE(where[v], model::kNoIndex) << cloud.vms[v].name;
      EXPECT_NE(where[v], h9) << cloud.vms[v].name;
      EXPECT_NE(where[v], second) << cloud.vms[v].name;
    }
    for (const auto& vm : result.evacuations) {
      EXPECT_TRUE(vm.outcome == exec::EvacuationOutcome::migrated ||
                  vm.outcome == exec::EvacuationOutcome::moved_cold)
          << cloud.vms[vm.vm].name << " " << exec::to_string(vm.outcome) << ": " << vm.reason;
    }
  }
}

// The source of live migrations is isolated while they run: the evacuation engine reports none of them moved
// unless its switch-over answered; the VMs it gave up are failure recovery's, with the reason.
TEST(EvacuationSimulation, IsolatedMigrationSourceIsLeftToRecoveryNotReportedMoved) {
  const auto& cloud = pod16();
  auto h9 = cloud.find_host("host-0009");
  for (double at : {1.0, 5.0, 12.0, 30.0}) {
    SCOPED_TRACE(fmt::format("isolated at {} s", at));
    auto scenario = load_scenario_text(
        fmt::format("version: 1\nseed: 7\nlatency: {{detect: 5}}\nevents:\n"
                    "- {{at: 0, evacuate: host-0009, deadline: 900, reason: maintenance}}\n"
                    "- {{at: {}, isolate: [host-0009], channels: [agent, hypervisor, storage]}}\n",
                    at),
        "isolated.yaml", cloud);
    auto result = run(scenario, exec::EvacuationStrategy::revive);
    expect_safe(result);
    std::size_t left = 0;
    for (const auto& vm : result.evacuations) {
      ASSERT_EQ(vm.from, h9);
      if (vm.outcome == exec::EvacuationOutcome::failed) {
        ++left;
        EXPECT_NE(vm.reason.find("left to failure recovery"), std::string::npos) << vm.reason;
      } else {
        EXPECT_EQ(vm.outcome, exec::EvacuationOutcome::migrated)
            << cloud.vms[vm.vm].name << ": " << vm.reason;
        // Reported moved: its switch-over answered before the isolation.
        bool answered = std::any_of(result.timeline.begin(), result.timeline.end(), [&](const auto& step) {
          return step.kind == env::StepKind::migrate && step.vm == vm.vm && step.finished && step.ok &&
                 step.end_s <= at + 1e-9;
        });
        EXPECT_TRUE(answered) << cloud.vms[vm.vm].name;
      }
    }
    EXPECT_GT(left, 0u);
  }
}

}  // namespace
}  // namespace revive::sim
