// The evacuation engine on small clouds in a simulated environment: every VM ends on exactly one host, no
// limit is exceeded, deadlines are met (or the report says who went cold and why), constraints hold, and
// maintenance ends with the hosts back in planning.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "evacuation_test_env.h"
#include "exec/evacuation.h"
#include "plan/planner.h"

namespace revive::exec {
namespace {

using model::HostIndex;
using model::kNoIndex;
using model::Priority;
using model::VmIndex;
using testing::TestLoop;
using testing::TestWorld;

struct Builder {
  model::Cloud cloud;
  explicit Builder(int hosts, std::uint64_t gib = 1024, int racks = 1) {
    cloud.arrays.push_back({"array-1", 8});
    cloud.endpoints.push_back({"mgmt", 32});
    auto rack = cloud.symbols.intern("rack");
    for (int i = 0; i < hosts; ++i) {
      model::Host host;
      host.name = fmt::format("h{}", i);
      host.cpus = 256;
      host.memory_mib = gib * 1024;
      host.arch = cloud.default_arch();
      host.labels = {{rack, cloud.symbols.intern(fmt::format("r{}", i % racks))}};
      host.arrays = {0};
      host.endpoint = 0;
      host.nic_gbps = 10;
      cloud.hosts.push_back(host);
    }
  }
  VmIndex vm(const std::string& name, HostIndex host, std::uint64_t gib, std::uint32_t dirty,
             Priority priority = Priority::medium, bool protect = true) {
    model::Vm vm;
    vm.name = name;
    vm.host = host;
    vm.cpus = 2;
    vm.memory_mib = gib * 1024;
    vm.dirty_mib_s = dirty;
    vm.priority = priority;
    vm.protect = protect;
    vm.first_disk = static_cast<model::DiskIndex>(cloud.disks.size());
    vm.disk_count = 1;
    cloud.disks.push_back({name + "-d", 0, 10, static_cast<VmIndex>(cloud.vms.size())});
    cloud.vms.push_back(vm);
    return static_cast<VmIndex>(cloud.vms.size() - 1);
  }
  // A mix of sizes (2..64 GiB) and dirty rates (5..150 MiB/s), deterministic.
  void mixed(HostIndex host, int count, const std::string& prefix) {
    const std::uint64_t sizes[] = {2, 4, 8, 16, 32, 64, 8, 4};
    const std::uint32_t dirty[] = {5, 20, 50, 100, 150, 20, 50, 5, 100};
    const Priority priorities[] = {Priority::critical, Priority::high, Priority::medium, Priority::low};
    for (int i = 0; i < count; ++i) {
      vm(fmt::format("{}-{}", prefix, i), host, sizes[i % 8], dirty[i % 9], priorities[i % 4]);
    }
  }
  model::Cloud& done() {
    cloud.rebuild_indexes();
    return cloud;
  }
};

struct Run {
  std::vector<EvacuationVmReport> report;
  std::vector<testing::TestStep> steps;
  std::vector<std::string> violations;
  std::vector<HostIndex> location;
  std::uint32_t peak = 0;
  double peak_nic = 0;
  model::Cloud state;
  double makespan() const {
    double end = 0;
    for (const auto& r : report) end = std::max(end, r.end_s);
    return end;
  }
  const EvacuationVmReport& of(VmIndex vm) const {
    return *std::find_if(report.begin(), report.end(), [vm](const auto& r) { return r.vm == vm; });
  }
};

Run evacuate(const model::Cloud& cloud, std::vector<HostIndex> hosts, double deadline,
             EvacuationStrategy strategy, EvacuationReason reason = EvacuationReason::maintenance,
             double dirty_spread = 0.0, std::function<void(Evacuator&, TestLoop&)> more = nullptr) {
  TestLoop loop;
  sim::SimMigrations::Options sim_options;
  sim_options.dirty_spread = dirty_spread;
  TestWorld world(cloud, loop, sim_options);
  EvacuationOptions options;
  options.strategy = strategy;
  Evacuator evacuator(cloud, {loop, world, world, world, nullptr}, options);
  evacuator.drain(hosts, deadline, reason);
  if (more) more(evacuator, loop);
  loop.run();
  EXPECT_FALSE(evacuator.busy());
  Run run{evacuator.report(), world.steps,           world.violations,
          world.location(),   world.peak_migrations, world.migrations().peak_nic_utilisation(),
          evacuator.state()};
  for (const auto& text : world.migrations().violations()) run.violations.push_back(text);
  return run;
}

void expect_all_off(const Run& run, const model::Cloud& cloud, const std::vector<HostIndex>& drained) {
  for (const auto& r : run.report) {
    if (!r.protect || r.outcome == EvacuationOutcome::not_placed) continue;
    EXPECT_TRUE(r.outcome == EvacuationOutcome::migrated || r.outcome == EvacuationOutcome::moved_cold)
        << cloud.vms[r.vm].name << " " << to_string(r.outcome) << " " << r.reason;
    HostIndex where = run.location[r.vm];
    EXPECT_NE(where, kNoIndex) << cloud.vms[r.vm].name << " runs nowhere";
    EXPECT_EQ(std::count(drained.begin(), drained.end(), where), 0) << cloud.vms[r.vm].name;
    EXPECT_EQ(where, r.to);
  }
}

TEST(Evacuation, StrategyNamesRoundTrip) {
  for (auto strategy :
       {EvacuationStrategy::sequential, EvacuationStrategy::fixed_8, EvacuationStrategy::revive}) {
    EXPECT_EQ(parse_evacuation_strategy(to_string(strategy)), strategy);
  }
  EXPECT_EQ(parse_evacuation_strategy("fixed-8"), EvacuationStrategy::fixed_8);
  EXPECT_FALSE(parse_evacuation_strategy("fast").has_value());
  EXPECT_EQ(parse_evacuation_reason("predicted-failure"), EvacuationReason::predicted_failure);
}

TEST(Evacuation, EveryStrategyMovesEveryVmLiveWithinLimits) {
  Builder b(6);
  b.mixed(0, 24, "v");
  auto& cloud = b.done();
  for (auto strategy :
       {EvacuationStrategy::sequential, EvacuationStrategy::fixed_8, EvacuationStrategy::revive}) {
    SCOPED_TRACE(std::string(to_string(strategy)));
    auto run = evacuate(cloud, {0}, 1e6, strategy);
    EXPECT_TRUE(run.violations.empty()) << run.violations.front();
    EXPECT_LE(run.peak, 8u);
    EXPECT_LE(run.peak_nic, 1.0 + 1e-9);
    ASSERT_EQ(run.report.size(), 24u);
    expect_all_off(run, cloud, {0});
    for (const auto& r : run.report) {
      // fixed-8 shares the NIC 8 ways: fast-dirtying VMs may not converge and need retries; all end live.
      EXPECT_EQ(r.outcome, EvacuationOutcome::migrated) << cloud.vms[r.vm].name << ": " << r.reason;
    }
  }
}

TEST(Evacuation, SequentialRunsOneMigrationAtATime) {
  Builder b(4);
  b.mixed(0, 10, "v");
  auto run = evacuate(b.done(), {0}, 1e6, EvacuationStrategy::sequential);
  std::vector<std::pair<double, double>> spans;
  for (const auto& step : run.steps) {
    if (step.kind == "migrate") spans.push_back({step.start_s, step.end_s});
  }
  std::sort(spans.begin(), spans.end());
  for (std::size_t i = 1; i < spans.size(); ++i) EXPECT_GE(spans[i].first, spans[i - 1].second - 1e-9);
}

TEST(Evacuation, HostMigrationLimitHoldsForEveryStrategy) {
  Builder b(3);
  b.cloud.policy.host_max_parallel_migrations = 2;
  b.mixed(0, 12, "v");
  auto& cloud = b.done();
  for (auto strategy :
       {EvacuationStrategy::sequential, EvacuationStrategy::fixed_8, EvacuationStrategy::revive}) {
    auto run = evacuate(cloud, {0}, 1e6, strategy);
    EXPECT_LE(run.peak, 2u) << to_string(strategy);
    EXPECT_TRUE(run.violations.empty());
  }
}

TEST(Evacuation, ReviveBeatsFixed8OnMixedDirtyRates) {
  Builder b(8);
  b.mixed(0, 30, "v");
  auto& cloud = b.done();
  auto revive = evacuate(cloud, {0}, 1e6, EvacuationStrategy::revive, EvacuationReason::maintenance, 0.2);
  auto fixed = evacuate(cloud, {0}, 1e6, EvacuationStrategy::fixed_8, EvacuationReason::maintenance, 0.2);
  EXPECT_LE(revive.makespan(), 0.75 * fixed.makespan())
      << "revive " << revive.makespan() << " s, fixed-8 " << fixed.makespan() << " s";
  for (const auto& r : revive.report) EXPECT_FALSE(r.cold) << cloud.vms[r.vm].name << ": " << r.reason;
}

TEST(Evacuation, RackDrainKeepsGroupsAndCapacity) {
  Builder b(8, 256, 4);  // racks r0..r3, two hosts each
  for (HostIndex h : {0u, 4u}) b.mixed(h, 12, fmt::format("h{}", h));
  auto a = b.vm("anti-a", 0, 4, 10);
  auto c = b.vm("anti-b", 4, 4, 10);
  b.cloud.groups.push_back({"apart", model::GroupKind::anti_affinity, b.cloud.scope_host(), {a, c}});
  auto& cloud = b.done();
  auto run = evacuate(cloud, {0, 4}, 1e6, EvacuationStrategy::revive);
  EXPECT_TRUE(run.violations.empty());
  expect_all_off(run, cloud, {0, 4});
  EXPECT_NE(run.location[a], run.location[c]);
  std::map<HostIndex, double> memory;
  for (VmIndex v = 0; v < cloud.vms.size(); ++v)
    memory[run.location[v]] += static_cast<double>(cloud.vms[v].memory_mib);
  for (auto [host, used] : memory) EXPECT_LE(used, cloud.usable_memory_mib(host)) << cloud.hosts[host].name;
  EXPECT_EQ(run.state.hosts[0].state, model::HostState::maintenance);
}

TEST(Evacuation, FeasibleDeadlineGetsEveryProtectedVmOffBeforeIt) {
  Builder b(6);
  b.mixed(0, 16, "v");
  auto& cloud = b.done();
  auto alone = evacuate(cloud, {0}, 1e6, EvacuationStrategy::revive);
  double deadline = alone.makespan() * 1.3 + 30;
  auto run = evacuate(cloud, {0}, deadline, EvacuationStrategy::revive);
  for (const auto& r : run.report) {
    EXPECT_GE(r.off_source_s, 0) << cloud.vms[r.vm].name;
    EXPECT_LE(r.off_source_s, deadline) << cloud.vms[r.vm].name;
    EXPECT_FALSE(r.running_at_deadline);
    EXPECT_FALSE(r.cold) << cloud.vms[r.vm].name << ": " << r.reason;
  }
}

TEST(Evacuation, InfeasibleDeadlineMovesTheLowestPrioritiesColdInTime) {
  Builder b(6);
  b.mixed(0, 24, "v");
  auto& cloud = b.done();
  auto alone = evacuate(cloud, {0}, 1e6, EvacuationStrategy::revive);
  double deadline = alone.makespan() * 0.5;
  auto run = evacuate(cloud, {0}, deadline, EvacuationStrategy::revive);
  EXPECT_TRUE(run.violations.empty());
  expect_all_off(run, cloud, {0});
  int cold = 0;
  Priority best_cold = Priority::low, worst_live = Priority::critical;
  for (const auto& r : run.report) {
    EXPECT_FALSE(r.running_at_deadline) << cloud.vms[r.vm].name << ": " << r.reason;
    EXPECT_LE(r.off_source_s, deadline) << cloud.vms[r.vm].name;
    if (r.cold) {
      ++cold;
      EXPECT_NE(r.reason.find("moved cold"), std::string::npos) << r.reason;
      best_cold = std::min(best_cold, r.priority);
    } else {
      worst_live = std::max(worst_live, r.priority);
    }
  }
  EXPECT_GT(cold, 0);
  // Cold moves come from the lowest priorities: no critical VM goes cold while lower ones go live.
  EXPECT_GE(best_cold, Priority::high);
  for (const auto& r : run.report) {
    if (r.priority == Priority::critical) {
      EXPECT_FALSE(r.cold) << cloud.vms[r.vm].name;
    }
  }
  (void)worst_live;
}

TEST(Evacuation, PredictedFailureStartsColdMovesAtOnce) {
  Builder b(4);
  b.mixed(0, 20, "v");
  auto& cloud = b.done();
  auto run = evacuate(cloud, {0}, 120, EvacuationStrategy::revive, EvacuationReason::predicted_failure);
  int cold = 0;
  for (const auto& r : run.report) {
    if (!r.cold) continue;
    ++cold;
    EXPECT_LE(r.start_s, 1.0) << cloud.vms[r.vm].name;
    EXPECT_LE(r.off_source_s, 120.0);
  }
  EXPECT_GT(cold, 0);
}

TEST(Evacuation, NonConvergingVmGoesColdWithItsReason) {
  Builder b(3);
  auto hot = b.vm("hot", 0, 16, 2000);  // dirties faster than a 10 Gbps NIC
  b.vm("calm", 0, 4, 5);
  auto& cloud = b.done();
  auto run = evacuate(cloud, {0}, 1e6, EvacuationStrategy::revive);
  EXPECT_TRUE(run.of(hot).cold);
  EXPECT_EQ(run.of(hot).outcome, EvacuationOutcome::moved_cold);
  EXPECT_NE(run.of(hot).reason.find("cannot converge"), std::string::npos) << run.of(hot).reason;
  // Nothing to gain by waiting for the maintenance deadline: it went cold at once.
  EXPECT_LT(run.of(hot).start_s, 1.0);
  EXPECT_LT(run.of(hot).end_s, 600.0);
  expect_all_off(run, cloud, {0});
  auto fixed = evacuate(cloud, {0}, 1e6, EvacuationStrategy::fixed_8);
  EXPECT_EQ(fixed.of(hot).outcome, EvacuationOutcome::failed);
  EXPECT_NE(fixed.of(hot).reason.find("did not converge"), std::string::npos) << fixed.of(hot).reason;
  EXPECT_EQ(fixed.location[hot], 0u);  // still running where it was
}

// A VM that would not converge at the least loaded target's NIC goes live to a host with a faster NIC, while
// the baselines (which do not look at NICs) take the planner's first choice.
TEST(Evacuation, FastDirtyingVmGoesLiveToAHostWhoseNicLetsItConverge) {
  Builder b(3);
  b.cloud.hosts[0].nic_gbps = 100;  // the drained host
  b.cloud.hosts[2].nic_gbps = 100;  // the only fast target, and the more loaded one
  b.vm("busy", 2, 512, 5);
  auto hot = b.vm("hot", 0, 16, 1500);  // more than a 10 Gbps NIC carries (1192 MiB/s)
  b.vm("calm", 0, 4, 5);
  auto& cloud = b.done();
  auto run = evacuate(cloud, {0}, 1e6, EvacuationStrategy::revive);
  EXPECT_EQ(run.of(hot).outcome, EvacuationOutcome::migrated) << run.of(hot).reason;
  EXPECT_FALSE(run.of(hot).cold);
  EXPECT_EQ(run.of(hot).to, 2u);
  EXPECT_TRUE(run.violations.empty());
  expect_all_off(run, cloud, {0});
  // Without a fast host with room, it moves cold as before.
  Builder small(3);
  small.cloud.hosts[0].nic_gbps = 100;
  small.cloud.hosts[2].nic_gbps = 100;
  small.cloud.hosts[2].memory_mib = 8 * 1024;
  auto hot_again = small.vm("hot", 0, 16, 1500);
  auto& tight = small.done();
  auto cold = evacuate(tight, {0}, 1e6, EvacuationStrategy::revive);
  EXPECT_EQ(cold.of(hot_again).outcome, EvacuationOutcome::moved_cold) << cold.of(hot_again).reason;
  EXPECT_EQ(cold.of(hot_again).to, 1u);
}

TEST(Evacuation, UnprotectedVmsAreStoppedByTheDeadlineNotMoved) {
  Builder b(3);
  auto batch = b.vm("batch", 0, 8, 20, Priority::low, false);
  b.vm("web", 0, 8, 20);
  auto& cloud = b.done();
  auto run = evacuate(cloud, {0}, 300, EvacuationStrategy::revive);
  EXPECT_EQ(run.of(batch).outcome, EvacuationOutcome::stopped);
  EXPECT_LE(run.of(batch).off_source_s, 300.0);
  EXPECT_GT(run.of(batch).start_s, 200.0);  // kept running as long as it safely could
  EXPECT_EQ(run.location[batch], kNoIndex);
}

TEST(Evacuation, UnplaceableVmIsReportedAndBlocksNothing) {
  Builder b(3, 64);
  auto big = b.vm("big", 0, 60, 10);  // 60 GiB: fits no other host once the fillers are there
  b.vm("fill-1", 1, 32, 5);
  b.vm("fill-2", 2, 32, 5);
  auto small = b.vm("small", 0, 4, 10);
  auto& cloud = b.done();
  auto run = evacuate(cloud, {0}, 500, EvacuationStrategy::revive);
  EXPECT_EQ(run.of(big).outcome, EvacuationOutcome::not_placed);
  EXPECT_NE(run.of(big).reason.find("no host can take it"), std::string::npos) << run.of(big).reason;
  EXPECT_TRUE(run.of(big).running_at_deadline);
  EXPECT_NE(run.of(big).reason.find("at the deadline"), std::string::npos) << run.of(big).reason;
  EXPECT_EQ(run.location[big], 0u);
  EXPECT_EQ(run.of(small).outcome, EvacuationOutcome::migrated);
}

TEST(Evacuation, ExitFromMaintenanceBringsTheHostBackAndFailsBack) {
  Builder b(3);
  b.mixed(0, 6, "v");
  auto& cloud = b.done();
  TestLoop loop;
  TestWorld world(cloud, loop, {{}, 1, 0.0});
  Evacuator evacuator(cloud, {loop, world, world, world, nullptr});
  evacuator.drain({0}, 1e6, EvacuationReason::maintenance);
  loop.run();
  for (VmIndex v = 0; v < 6; ++v) EXPECT_NE(world.location()[v], 0u);
  // While in maintenance the host takes nothing.
  plan::PlanRequest failing;
  failing.failed_hosts = {1};
  for (const auto& p : plan::plan_failover(evacuator.state(), failing).placements) EXPECT_NE(p.to, 0u);
  evacuator.exit_maintenance({0}, true);
  EXPECT_EQ(evacuator.state().hosts[0].state, model::HostState::up);
  loop.run();
  for (VmIndex v = 0; v < 6; ++v) EXPECT_EQ(world.location()[v], 0u) << cloud.vms[v].name;
  for (const auto& r : evacuator.report()) EXPECT_TRUE(r.fail_back);
  EXPECT_TRUE(world.violations.empty());
}

TEST(Evacuation, ALaterPlanMayTargetAHostBackFromMaintenance) {
  Builder b(2);
  b.vm("a", 0, 4, 10);
  b.vm("b", 1, 4, 10);
  auto& cloud = b.done();
  TestLoop loop;
  TestWorld world(cloud, loop);
  Evacuator evacuator(cloud, {loop, world, world, world, nullptr});
  evacuator.drain({0}, 1e6, EvacuationReason::maintenance);
  loop.run();
  plan::PlanRequest failing;
  failing.failed_hosts = {1};
  EXPECT_TRUE(plan::plan_failover(evacuator.state(), failing).placements.empty());  // nowhere to go
  evacuator.exit_maintenance({0}, false);
  loop.run();
  auto plan = plan::plan_failover(evacuator.state(), failing);
  ASSERT_EQ(plan.placements.size(), 2u);  // "a" (moved to h1) and "b" go back to h0
  for (const auto& p : plan.placements) EXPECT_EQ(p.to, 0u);
}

TEST(Evacuation, CancelDropsMovesNotBegun) {
  Builder b(3);
  b.mixed(0, 10, "v");
  auto& cloud = b.done();
  auto run = evacuate(cloud, {0}, 1e6, EvacuationStrategy::sequential, EvacuationReason::maintenance, 0.0,
                      [](Evacuator& evacuator, TestLoop& loop) {
                        loop.schedule_after(1.0, [&evacuator] { evacuator.cancel({0}); });
                      });
  int cancelled = 0, migrated = 0;
  for (const auto& r : run.report) {
    cancelled += r.outcome == EvacuationOutcome::cancelled;
    migrated += r.outcome == EvacuationOutcome::migrated;
    if (r.outcome == EvacuationOutcome::cancelled) {
      EXPECT_EQ(run.location[r.vm], 0u);
    }
  }
  EXPECT_EQ(migrated, 1);  // the one in flight finishes
  EXPECT_EQ(cancelled, 9);
  EXPECT_EQ(run.state.hosts[0].state, model::HostState::up);
}

TEST(Evacuation, SameInputsGiveTheSameRun) {
  Builder b(6, 1024, 2);
  b.mixed(0, 20, "a");
  b.mixed(2, 20, "b");
  auto& cloud = b.done();
  auto first = evacuate(cloud, {0, 2}, 400, EvacuationStrategy::revive, EvacuationReason::maintenance, 0.2);
  auto second = evacuate(cloud, {0, 2}, 400, EvacuationStrategy::revive, EvacuationReason::maintenance, 0.2);
  ASSERT_EQ(first.steps.size(), second.steps.size());
  for (std::size_t i = 0; i < first.steps.size(); ++i) {
    EXPECT_EQ(first.steps[i].kind, second.steps[i].kind);
    EXPECT_EQ(first.steps[i].vm, second.steps[i].vm);
    EXPECT_EQ(first.steps[i].end_s, second.steps[i].end_s);
  }
}

}  // namespace
}  // namespace revive::exec
