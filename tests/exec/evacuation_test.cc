// The evacuation engine on small clouds in a simulated environment: every VM ends on exactly one host, no
// limit is exceeded, deadlines are met (or the report says who went cold and why), constraints hold, and
// maintenance ends with the hosts back in planning.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

#include <nlohmann/json.hpp>

#include "evacuation_test_env.h"
#include "exec/evacuation.h"
#include "exec/host_availability.h"
#include "exec/resource_ledger.h"
#include "exec/vm_copies.h"
#include "model/generator.h"
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
  auto& cloud = b.done();
  auto run = evacuate(cloud, {0}, 1e6, EvacuationStrategy::sequential);
  EXPECT_TRUE(run.violations.empty()) << run.violations.front();
  // Every VM moved, live: one migration each at least (more for retries), never two at once.
  ASSERT_EQ(run.report.size(), 10u);
  for (const auto& r : run.report) {
    EXPECT_EQ(r.outcome, EvacuationOutcome::migrated) << cloud.vms[r.vm].name << ": " << r.reason;
  }
  expect_all_off(run, cloud, {0});
  std::vector<std::pair<double, double>> spans;
  for (const auto& step : run.steps) {
    if (step.kind == "migrate") spans.push_back({step.start_s, step.end_s});
  }
  ASSERT_GE(spans.size(), 10u);
  EXPECT_EQ(run.peak, 1u);
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

// A 100 Gbps source whose least loaded targets have 10 Gbps NICs: with 8 migration slots those could never
// fill its NIC, so revive plans its VMs onto hosts fast enough that half the slots do (25 Gbps and up) while
// they have room, and drains faster than fixed-8 on the planner's first choice, measured in the same run.
TEST(Evacuation, FastSourceDrainsOntoTargetsFastEnoughToFillItsNic) {
  Builder b(7);
  b.cloud.hosts[0].nic_gbps = 100;
  for (HostIndex h = 4; h < 7; ++h) {
    b.cloud.hosts[h].nic_gbps = 25;
    b.vm(fmt::format("load-{}", h), h, 300, 5);  // more loaded than the 10 Gbps hosts 1-3
  }
  std::vector<VmIndex> moving;
  for (int i = 0; i < 12; ++i) moving.push_back(b.vm(fmt::format("v{}", i), 0, 32, 20));
  auto& cloud = b.done();
  auto revive = evacuate(cloud, {0}, 1e6, EvacuationStrategy::revive);
  auto fixed = evacuate(cloud, {0}, 1e6, EvacuationStrategy::fixed_8);
  EXPECT_TRUE(revive.violations.empty());
  expect_all_off(revive, cloud, {0});
  for (auto v : moving) {
    EXPECT_GE(cloud.hosts[revive.of(v).to].nic_gbps, 25) << cloud.vms[v].name;
    EXPECT_FALSE(revive.of(v).cold) << revive.of(v).reason;
  }
  EXPECT_LT(cloud.hosts[fixed.of(moving.front()).to].nic_gbps, 25);  // the planner's choice: a 10 Gbps host
  EXPECT_LT(revive.makespan(), 0.8 * fixed.makespan())
      << "revive " << revive.makespan() << " s, fixed-8 " << fixed.makespan() << " s";
  // Where the fast hosts have no room, the slow ones take the VMs (live, as before).
  Builder full(4);
  full.cloud.hosts[0].nic_gbps = 100;
  full.cloud.hosts[3].nic_gbps = 25;
  full.cloud.hosts[3].memory_mib = 8 * 1024;
  auto only = full.vm("only", 0, 16, 20);
  auto& tight = full.done();
  auto slow = evacuate(tight, {0}, 1e6, EvacuationStrategy::revive);
  EXPECT_EQ(slow.of(only).outcome, EvacuationOutcome::migrated) << slow.of(only).reason;
  EXPECT_LT(tight.hosts[slow.of(only).to].nic_gbps, 25);
}

// Sources behind one management endpoint with a single slot take turns, the one with the most NIC time
// left first: the drain's longest queue is not starved by a source that merely comes first in host order.
TEST(Evacuation, SourcesSharingEndpointSlotsGoMostWorkFirst) {
  Builder b(6);
  b.cloud.endpoints[0].max_parallel = 1;
  auto small = b.vm("small", 0, 2, 5);
  std::vector<VmIndex> big;
  for (int i = 0; i < 4; ++i) big.push_back(b.vm(fmt::format("big-{}", i), 1, 32, 5));
  auto& cloud = b.done();
  auto run = evacuate(cloud, {0, 1}, 1e6, EvacuationStrategy::revive);
  EXPECT_TRUE(run.violations.empty()) << run.violations.front();
  expect_all_off(run, cloud, {0, 1});
  double first_big = 1e9;
  for (auto v : big) first_big = std::min(first_big, run.of(v).start_s);
  EXPECT_EQ(first_big, 0.0);
  EXPECT_GT(run.of(small).start_s, 0.0);
}

// The bound: each VM alone at the best share it can get (re-dirtied rounds included), through its host's
// NIC, its host's migration slots and its endpoint's; VMs that cannot converge live count nowhere; spares
// kept for failures are no targets. No strategy's makespan is below it.
TEST(EvacuationBound, CountsReDirtiedRoundsSlotsAndEndpoints) {
  LiveMigrationParameters parameters;
  {
    Builder b(2);
    b.vm("hot", 0, 16, 300);
    auto& cloud = b.done();
    std::string binding;
    double bound = evacuation_lower_bound_s(cloud, {0}, parameters, &binding);
    auto alone = estimate_migration(16 * 1024, 300, 10 * kMibPerSecondPerGbps, parameters);
    EXPECT_DOUBLE_EQ(bound, alone.total_s) << binding;
    EXPECT_GT(bound, parameters.setup_s + 16 * 1024 / (10 * kMibPerSecondPerGbps) + 1.0);
    // At the simulation's own (lower) rate the bound is lower.
    std::vector<double> rates = {100};
    EXPECT_LT(evacuation_lower_bound_s(cloud, {0}, parameters, nullptr, &rates), bound);
  }
  {
    Builder b(3);
    b.cloud.policy.host_max_parallel_migrations = 1;
    b.cloud.hosts[0].nic_gbps = 100;
    for (int i = 0; i < 4; ++i) b.vm(fmt::format("v{}", i), 0, 16, 5);
    auto& cloud = b.done();
    std::string binding;
    evacuation_lower_bound_s(cloud, {0}, parameters, &binding);
    EXPECT_EQ(binding, "the migration slots of h0");  // one at a time at 10 Gbps targets: 4 x 15.7 s
  }
  {
    Builder b(6);
    b.cloud.endpoints[0].max_parallel = 1;
    b.mixed(0, 6, "a");
    b.mixed(1, 6, "b");
    auto& cloud = b.done();
    std::string binding;
    double bound = evacuation_lower_bound_s(cloud, {0, 1}, parameters, &binding);
    EXPECT_EQ(binding, "the migration slots of endpoint mgmt");
    for (auto strategy :
         {EvacuationStrategy::sequential, EvacuationStrategy::fixed_8, EvacuationStrategy::revive}) {
      auto run = evacuate(cloud, {0, 1}, 1e6, strategy);
      EXPECT_GE(run.makespan(), bound - 1e-6) << to_string(strategy);
    }
  }
  {
    Builder b(2);
    b.vm("never", 0, 16, 1500);  // more than a 10 Gbps NIC carries: cold
    auto& cloud = b.done();
    EXPECT_EQ(evacuation_lower_bound_s(cloud, {0}, parameters), 0.0);
  }
  {
    Builder b(3);
    b.cloud.hosts[2].nic_gbps = 100;
    b.cloud.hosts[2].reserved = true;
    b.cloud.hosts[0].nic_gbps = 100;
    b.vm("v", 0, 64, 5);
    auto& cloud = b.done();
    double kept = evacuation_lower_bound_s(cloud, {0}, parameters);  // the spare is no target: 10 Gbps
    cloud.policy.spares.maintenance = true;
    double allowed = evacuation_lower_bound_s(cloud, {0}, parameters);
    EXPECT_GT(kept, 5 * allowed);
  }
}

// A rack of 16 hosts behind one management endpoint (32 slots for its 411 migrations) with a deadline of 60%
// of revive's own makespan without one: the endpoint's slots bind, not the NICs. revive sends the VMs whose
// migration would hold a slot longer than a stop cold in time, lets no migration slow another down, and holds
// cold starts for the deadline, so every VM is off its host by then (before, 49 were still there), while
// fixed-8 leaves many running in the same run.
TEST(Evacuation, RackBehindOneEndpointMeetsADeadlineItsSlotsBind) {
  model::GeneratorOptions generator;
  generator.hosts = 64;
  generator.vms = 64 * 25;
  generator.seed = 1;
  auto cloud = model::generate_cloud(generator);
  HostIndex busiest = 0;
  for (HostIndex h = 0; h < cloud.hosts.size(); ++h) {
    if (cloud.vms_on(h).size() > cloud.vms_on(busiest).size()) busiest = h;
  }
  auto rack = cloud.symbols.find("rack");
  std::vector<HostIndex> hosts;
  for (HostIndex h = 0; h < cloud.hosts.size(); ++h) {
    if (cloud.scope_value(h, rack) == cloud.scope_value(busiest, rack)) hosts.push_back(h);
  }
  auto free_run = evacuate(cloud, hosts, 1e9, EvacuationStrategy::revive, EvacuationReason::maintenance, 0.2);
  double moved_end = 0;  // protect:false VMs are stopped just before the (here far) deadline: not counted
  for (const auto& r : free_run.report) {
    if (r.outcome == EvacuationOutcome::migrated || r.outcome == EvacuationOutcome::moved_cold)
      moved_end = std::max(moved_end, r.end_s);
  }
  double deadline = 0.6 * moved_end;
  auto revive =
      evacuate(cloud, hosts, deadline, EvacuationStrategy::revive, EvacuationReason::maintenance, 0.2);
  auto fixed =
      evacuate(cloud, hosts, deadline, EvacuationStrategy::fixed_8, EvacuationReason::maintenance, 0.2);
  EXPECT_TRUE(revive.violations.empty()) << revive.violations.front();
  std::size_t cold = 0, fixed_late = 0;
  for (const auto& r : revive.report) {
    EXPECT_FALSE(r.running_at_deadline) << cloud.vms[r.vm].name << ": " << r.reason;
    cold += r.cold;
  }
  for (const auto& r : fixed.report) fixed_late += r.running_at_deadline;
  expect_all_off(revive, cloud, hosts);
  EXPECT_GT(cold, 0u);
  EXPECT_LT(cold, revive.report.size() / 4);
  EXPECT_GT(fixed_late, 50u);
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

// ---- safety: copies, hosts lost mid-move, drains of drains, restarts (issue 9)
// ------------------------------

// An engine with every shared piece the runner gives it (ledger, host availability, copies), so a test can
// play the other parties: the detector (host lost), the executor (fences, restarts).
struct Rig {
  const model::Cloud& cloud;
  TestLoop loop;
  TestWorld world;
  HostAvailability availability;
  ResourceLedger ledger;
  VmCopies copies;
  Evacuator evacuator;
  explicit Rig(const model::Cloud& c, EvacuationOptions options = {})
      : cloud(c),
        world(c, loop),
        availability(c.hosts.size()),
        ledger(c),
        copies(c),
        evacuator(c, {loop, world, world, world, nullptr, &ledger, &availability, &copies}, options) {}
  // `host` crashed and its fence is confirmed, as the detector and the executor would tell: it is off.
  void fail_and_fence(HostIndex host) {
    world.lose_contact(host);
    availability.set(host, HostAvailability::Reason::not_up, true);
    fence(host);
  }
  // The fence of `host` confirmed, as the executor would: the host is off.
  void fence(HostIndex host) {
    world.power_off(host);
    copies.host_fenced(host);
    availability.confirm_fenced(host);
  }
  const EvacuationVmReport& of(VmIndex vm) const {
    static std::vector<EvacuationVmReport> reports;
    reports = evacuator.report();
    auto found = std::find_if(reports.begin(), reports.end(), [vm](const auto& r) { return r.vm == vm; });
    EXPECT_NE(found, reports.end());
    return *found;
  }
  std::uint32_t endpoint_slots_in_use() const { return ledger.in_flight(ledger.endpoint(0)); }
  std::size_t issued(const std::string& kind, VmIndex vm, HostIndex host = kNoIndex) const {
    return static_cast<std::size_t>(
        std::count_if(world.issued.begin(), world.issued.end(), [&](const auto& step) {
          return step.kind == kind && step.vm == vm && (host == kNoIndex || step.host == host);
        }));
  }
};

// A VM that must move cold (it dirties faster than any NIC carries): the engine stops it at once.
TEST(EvacuationSafety, ColdStartNeverIssuedWhileTheSourceStopIsUnanswered) {
  Builder b(3);
  auto hot = b.vm("hot", 0, 16, 2000);
  auto& cloud = b.done();
  Rig rig(cloud);
  rig.evacuator.drain({0}, 1000, EvacuationReason::maintenance);
  // The stop takes 20 s; 10 s in, its host stops answering: the stop never answers.
  rig.loop.schedule_after(10, [&] { rig.world.lose_contact(0); });
  rig.loop.schedule_after(60, [&] {
    EXPECT_EQ(rig.issued("vm_stop", hot), 1u);
    EXPECT_EQ(rig.issued("vm_start", hot), 0u);
    EXPECT_TRUE(rig.copies.may_run_on(hot, 0));  // no proof yet that it is gone
    EXPECT_EQ(rig.endpoint_slots_in_use(), 1u);  // the stop may still run there
  });
  rig.loop.schedule_after(100, [&] { rig.fence(0); });
  rig.loop.run();
  // Never started by the engine: the VM is failure recovery's (which has its fence now).
  EXPECT_EQ(rig.issued("vm_start", hot), 0u);
  EXPECT_EQ(rig.of(hot).outcome, EvacuationOutcome::failed);
  EXPECT_NE(rig.of(hot).reason.find("left to failure recovery"), std::string::npos) << rig.of(hot).reason;
  EXPECT_EQ(rig.endpoint_slots_in_use(), 0u);  // given back at the fence
  EXPECT_FALSE(rig.evacuator.busy());
  EXPECT_TRUE(rig.world.violations.empty()) << rig.world.violations.front();
}

// Another engine's start of the VM on a third host is unanswered: the cold move's stop proves the source
// empty, but its start on the target waits until that start has answered too.
TEST(EvacuationSafety, ColdStartWaitsForProofOfEveryOtherHostOfTheVm) {
  Builder b(3);
  b.cloud.hosts[2].memory_mib = 8 * 1024;  // too small: the move's target is h1
  auto hot = b.vm("hot", 0, 16, 2000);
  auto& cloud = b.done();
  Rig rig(cloud);
  rig.copies.start_issued(hot, 2);
  rig.evacuator.drain({0}, 1000, EvacuationReason::maintenance);
  rig.loop.schedule_after(300, [&] {
    EXPECT_EQ(rig.issued("vm_start", hot), 0u);
    EXPECT_EQ(rig.of(hot).outcome, EvacuationOutcome::moving_cold);
    EXPECT_NE(rig.of(hot).reason.find("waits for proof"), std::string::npos) << rig.of(hot).reason;
    EXPECT_NE(rig.of(hot).reason.find("h2"), std::string::npos) << rig.of(hot).reason;
    rig.copies.start_answered(hot, 2, false);  // it failed there: no copy on h2
  });
  rig.loop.run();
  ASSERT_EQ(rig.issued("vm_start", hot), 1u);
  auto start = std::find_if(rig.world.issued.begin(), rig.world.issued.end(),
                            [&](const auto& step) { return step.kind == "vm_start" && step.vm == hot; });
  EXPECT_GE(start->start_s, 300.0);
  EXPECT_EQ(start->host, 1u);
  EXPECT_EQ(rig.of(hot).outcome, EvacuationOutcome::moved_cold) << rig.of(hot).reason;
  EXPECT_EQ(rig.world.location()[hot], 1u);
  EXPECT_EQ(rig.copies.hosts(hot), std::vector<HostIndex>{1});
  EXPECT_TRUE(rig.world.violations.empty()) << rig.world.violations.front();
}

// The source of a live migration loses contact mid-transfer: the migration goes on and switches over unseen.
// The engine gives the VM up to failure recovery without calling it moved, the migration stays unanswered in
// the set of copies (so recovery will not start the VM elsewhere without proof for the target), and its slots
// are held until the source's fence.
TEST(EvacuationSafety, IsolatedMigrationSourceLeavesTheMigrationInCopiesNotReportedMoved) {
  Builder b(3);
  auto big = b.vm("big", 0, 64, 5);  // about a minute over 10 Gbps
  auto& cloud = b.done();
  Rig rig(cloud);
  rig.evacuator.drain({0}, 1000, EvacuationReason::maintenance);
  HostIndex target = kNoIndex;
  rig.loop.schedule_after(10, [&] {
    ASSERT_EQ(rig.of(big).outcome, EvacuationOutcome::migrating);
    target = rig.of(big).to;
    rig.world.lose_contact(0);
  });
  rig.loop.schedule_after(30, [&] {
    EXPECT_EQ(rig.of(big).outcome, EvacuationOutcome::failed);
    EXPECT_NE(rig.of(big).reason.find("left to failure recovery"), std::string::npos) << rig.of(big).reason;
    EXPECT_TRUE(rig.copies.pending_on(big, target));
    EXPECT_TRUE(rig.copies.may_run_on(big, 0));
    EXPECT_EQ(rig.endpoint_slots_in_use(), 1u);  // the migration may still run
  });
  rig.loop.schedule_after(200, [&] {
    EXPECT_EQ(rig.world.location()[big], target);  // it did switch over, unseen
    EXPECT_TRUE(rig.copies.pending_on(big, target));
    EXPECT_EQ(rig.endpoint_slots_in_use(), 1u);
    rig.fence(0);
  });
  rig.loop.run();
  EXPECT_EQ(rig.endpoint_slots_in_use(), 0u);  // given back at the fence
  EXPECT_EQ(rig.of(big).outcome, EvacuationOutcome::failed);
  // The target stays in the set until proof (a listing, now that the source is fenced): no start elsewhere.
  EXPECT_TRUE(rig.copies.may_run_on(big, target));
  EXPECT_FALSE(rig.copies.may_run_on(big, 0));
  EXPECT_EQ(rig.issued("vm_start", big), 0u);
  EXPECT_FALSE(rig.evacuator.busy());
  EXPECT_TRUE(rig.world.violations.empty()) << rig.world.violations.front();
}

// A late answer of a migration given up: it switched over, so the VM runs on its target and is reported so.
TEST(EvacuationSafety, LateSwitchOverOfAGivenUpMigrationIsFollowed) {
  Builder b(3);
  auto big = b.vm("big", 0, 64, 5);
  auto& cloud = b.done();
  Rig rig(cloud);
  rig.evacuator.drain({0}, 1000, EvacuationReason::maintenance);
  // The engine hears of a lost connection but the host still answers (a flapping link).
  rig.loop.schedule_after(10, [&] { rig.world.report_lost(0); });
  rig.loop.schedule_after(20, [&] {
    EXPECT_EQ(rig.of(big).outcome, EvacuationOutcome::failed);
    EXPECT_TRUE(rig.copies.pending_on(big, rig.of(big).to));
  });
  rig.loop.run();
  EXPECT_EQ(rig.of(big).outcome, EvacuationOutcome::migrated) << rig.of(big).reason;
  EXPECT_NE(rig.of(big).reason.find("switched over"), std::string::npos) << rig.of(big).reason;
  EXPECT_EQ(rig.world.location()[big], rig.of(big).to);
  EXPECT_EQ(rig.copies.hosts(big), std::vector<HostIndex>{rig.of(big).to});
  EXPECT_EQ(rig.endpoint_slots_in_use(), 0u);
}

// Two hosts drained one after the other, the second while VMs of the first are moving (some cold) onto it:
// both drains finish, no VM left on either host, every report true of the world.
TEST(EvacuationSafety, TwoOverlappingDrainsFinishWithNoVmOnEitherHost) {
  Builder b(4);
  b.mixed(0, 8, "a");
  b.vm("hot-1", 0, 8, 2000);
  b.vm("hot-2", 0, 8, 2000);
  b.mixed(1, 4, "b");
  auto& cloud = b.done();
  for (double second : {0.0, 5.0, 25.0, 50.0, 85.0, 150.0, 400.0}) {
    SCOPED_TRACE(fmt::format("second drain at {} s", second));
    Rig rig(cloud);
    rig.evacuator.drain({0}, 1500, EvacuationReason::maintenance);
    if (second == 0.0) {
      rig.evacuator.drain({1}, 2000, EvacuationReason::maintenance);
    } else {
      rig.loop.schedule_after(
          second, [&] { rig.evacuator.drain({1}, second + 2000, EvacuationReason::maintenance); });
    }
    rig.loop.run();
    EXPECT_FALSE(rig.evacuator.busy());
    EXPECT_TRUE(rig.world.violations.empty()) << rig.world.violations.front();
    for (VmIndex v = 0; v < cloud.vms.size(); ++v) {
      EXPECT_NE(rig.world.location()[v], kNoIndex) << cloud.vms[v].name << " runs nowhere";
      EXPECT_NE(rig.world.location()[v], 0u) << cloud.vms[v].name;
      EXPECT_NE(rig.world.location()[v], 1u) << cloud.vms[v].name;
    }
    for (const auto& r : rig.evacuator.report()) {
      EXPECT_TRUE(r.outcome == EvacuationOutcome::migrated || r.outcome == EvacuationOutcome::moved_cold)
          << cloud.vms[r.vm].name << " " << to_string(r.outcome) << ": " << r.reason;
      EXPECT_EQ(rig.world.location()[r.vm], r.to) << cloud.vms[r.vm].name;
      EXPECT_FALSE(r.running_at_deadline) << cloud.vms[r.vm].name << ": " << r.reason;
    }
    // No move begins onto a host being drained: after the second drain, no migration to h1, and a start
    // there only ends a cold move whose stop came before (the VM then leaves with h1's own).
    for (const auto& step : rig.world.issued) {
      if (step.kind != "migrate" && step.kind != "vm_start") continue;
      EXPECT_NE(step.host, 0u);
      if (step.host != 1u || step.start_s <= second) continue;
      bool stopped_before =
          std::any_of(rig.world.issued.begin(), rig.world.issued.end(), [&](const auto& stop) {
            return stop.kind == "vm_stop" && stop.vm == step.vm && stop.start_s <= second;
          });
      EXPECT_TRUE(step.kind == "vm_start" && stopped_before)
          << step.kind << " of " << cloud.vms[step.vm].name << " at " << step.start_s;
    }
  }
}

// The smallest case of it: one VM moving cold, its target drained after its stop (the start already under
// way); nothing else happens, so only the end of that start can move it on.
TEST(EvacuationSafety, ColdMoveOntoAHostDrainedMidMoveIsMovedOnFromIt) {
  Builder b(3);
  auto hot = b.vm("hot", 0, 8, 2000);
  auto& cloud = b.done();
  Rig rig(cloud);
  rig.evacuator.drain({0}, 1000, EvacuationReason::maintenance);
  HostIndex first = kNoIndex;
  rig.loop.schedule_after(30, [&] {
    first = rig.of(hot).to;
    ASSERT_EQ(rig.of(hot).outcome, EvacuationOutcome::moving_cold);
    rig.evacuator.drain({first}, 1500, EvacuationReason::maintenance);
  });
  rig.loop.run();
  EXPECT_FALSE(rig.evacuator.busy());
  const auto& r = rig.of(hot);
  EXPECT_EQ(r.from, first);
  EXPECT_EQ(r.outcome, EvacuationOutcome::moved_cold) << r.reason;
  EXPECT_NE(rig.world.location()[hot], first);
  EXPECT_NE(rig.world.location()[hot], 0u);
  EXPECT_EQ(rig.world.location()[hot], r.to);
  EXPECT_LE(r.end_s, 1500.0);
  EXPECT_TRUE(rig.world.violations.empty()) << rig.world.violations.front();
}

// Failure recovery restarts a VM on a host; that host is drained later (or was being drained already, the
// restart having begun before): the engine moves the VM off by the deadline.
TEST(EvacuationSafety, VmRecoveredOntoAHostLaterDrainedIsMovedOffByTheDeadline) {
  Builder b(4);
  auto vm = b.vm("restarted", 0, 8, 20);
  b.vm("other", 2, 8, 20);
  auto& cloud = b.done();
  for (bool drained_first : {false, true}) {
    SCOPED_TRACE(drained_first ? "drained before the restart" : "drained after the restart");
    Rig rig(cloud);
    double drain_at = drained_first ? 0.0 : 100.0, restart_at = drained_first ? 100.0 : 5.0;
    double deadline = 700.0;
    rig.loop.schedule_after(restart_at, [&] {
      // h0 failed and was fenced; the executor restarted the VM on h2.
      rig.fail_and_fence(0);
      rig.world.place(vm, 2);
      rig.copies.seen_running(vm, 2);
      rig.evacuator.on_vm_recovered(vm, 2);
    });
    rig.loop.schedule_after(drain_at,
                            [&] { rig.evacuator.drain({2}, deadline, EvacuationReason::maintenance); });
    rig.loop.run();
    EXPECT_FALSE(rig.evacuator.busy());
    EXPECT_TRUE(rig.world.violations.empty()) << rig.world.violations.front();
    EXPECT_NE(rig.world.location()[vm], 2u);
    EXPECT_NE(rig.world.location()[vm], kNoIndex);
    const auto& r = rig.of(vm);
    EXPECT_EQ(r.from, 2u);
    EXPECT_EQ(r.outcome, EvacuationOutcome::migrated) << r.reason;
    EXPECT_EQ(rig.world.location()[vm], r.to);
    EXPECT_GE(r.off_source_s, restart_at);
    EXPECT_LE(r.off_source_s, deadline);
    EXPECT_FALSE(r.running_at_deadline) << r.reason;
    EXPECT_EQ(rig.evacuator.state().vms[vm].host, r.to);
  }
}

// Restarted onto a drained host after its deadline: flagged at once (with why), and still moved off.
TEST(EvacuationSafety, VmRecoveredOntoADrainedHostAfterItsDeadlineIsFlaggedAndMoved) {
  Builder b(4);
  auto vm = b.vm("restarted", 0, 8, 20);
  b.vm("other", 2, 8, 20);
  auto& cloud = b.done();
  Rig rig(cloud);
  rig.evacuator.drain({2}, 300, EvacuationReason::maintenance);
  rig.loop.schedule_after(400, [&] {
    rig.fail_and_fence(0);
    rig.world.place(vm, 2);
    rig.copies.seen_running(vm, 2);
    rig.evacuator.on_vm_recovered(vm, 2);
  });
  rig.loop.run();
  const auto& r = rig.of(vm);
  EXPECT_TRUE(r.running_at_deadline);
  EXPECT_NE(r.reason.find("after its deadline"), std::string::npos) << r.reason;
  EXPECT_EQ(r.outcome, EvacuationOutcome::migrated) << r.reason;
  EXPECT_NE(rig.world.location()[vm], 2u);
}

// Migrations hold a slot of their source's and their target's endpoints in the shared ledger: with a
// two-slot endpoint, at most two migrations (one endpoint shared by all hosts) run at once.
TEST(EvacuationSafety, MigrationsCountAgainstTheEndpointLimit) {
  Builder b(4);
  b.cloud.endpoints[0].max_parallel = 2;
  b.mixed(0, 10, "v");
  auto& cloud = b.done();
  for (auto strategy : {EvacuationStrategy::fixed_8, EvacuationStrategy::revive}) {
    SCOPED_TRACE(std::string(to_string(strategy)));
    EvacuationOptions options;
    options.strategy = strategy;
    Rig rig(cloud, options);
    rig.evacuator.drain({0}, 1e6, EvacuationReason::maintenance);
    rig.loop.run();
    EXPECT_TRUE(rig.world.violations.empty()) << rig.world.violations.front();
    EXPECT_LE(rig.ledger.peak(rig.ledger.endpoint(0)), 2u);
    EXPECT_LE(rig.evacuator.peak_migrations_per_host(), 2u);
    for (const auto& r : rig.evacuator.report()) {
      EXPECT_TRUE(r.outcome == EvacuationOutcome::migrated || r.outcome == EvacuationOutcome::moved_cold)
          << cloud.vms[r.vm].name << ": " << r.reason;
    }
  }
}

// With a global limit, migrations count against it too.
TEST(EvacuationSafety, MigrationsCountAgainstTheGlobalLimit) {
  Builder b(4);
  b.mixed(0, 10, "v");
  auto& cloud = b.done();
  TestLoop loop;
  TestWorld world(cloud, loop);
  ResourceLedger ledger(cloud, 3);
  Evacuator evacuator(cloud, {loop, world, world, world, nullptr, &ledger});
  evacuator.drain({0}, 1e6, EvacuationReason::maintenance);
  loop.run();
  EXPECT_LE(ledger.peak(ledger.global()), 3u);
  EXPECT_LE(evacuator.peak_migrations_per_host(), 3u);
  EXPECT_GE(evacuator.peak_migrations_per_host(), 1u);
  for (const auto& r : evacuator.report()) EXPECT_EQ(r.outcome, EvacuationOutcome::migrated) << r.reason;
}

// The journal: the engine's plan record is not the executor's `plan`, and moves carry vm, from and to.
TEST(EvacuationSafety, JournalRecordsPlaceMovedVms) {
  struct Memory final : env::Journal {
    std::vector<env::JournalRecord> records;
    std::uint64_t append(const env::JournalRecord& record) override {
      records.push_back(record);
      return records.size();
    }
    std::uint64_t last_appended() const override { return records.size(); }
    std::vector<env::JournalRecord> read_all() const override { return records; }
  } journal;
  Builder b(3);
  auto calm = b.vm("calm", 0, 4, 5);
  auto hot = b.vm("hot", 0, 8, 2000);
  auto& cloud = b.done();
  TestLoop loop;
  TestWorld world(cloud, loop);
  Evacuator evacuator(cloud, {loop, world, world, world, &journal});
  evacuator.drain({0}, 1e6, EvacuationReason::maintenance);
  loop.run();
  std::map<std::string, int> kinds;
  for (const auto& record : journal.records) {
    ++kinds[record.kind];
    EXPECT_NE(record.kind, "plan");
    auto payload = nlohmann::json::parse(record.payload);  // valid JSON, always
    if (record.kind == "evacuation_plan") {
      EXPECT_TRUE(payload["placements"].is_array());
      for (const auto& placement : payload["placements"]) {
        EXPECT_TRUE(placement.contains("vm") && placement.contains("from") && placement.contains("to"));
      }
    }
    if (record.kind == "migrate_done") {
      EXPECT_EQ(payload["vm"], "calm");
      EXPECT_EQ(payload["from"], "h0");
      EXPECT_EQ(payload["to"], cloud.hosts[world.location()[calm]].name);
    }
    if (record.kind == "cold_move_done") {
      EXPECT_EQ(payload["vm"], "hot");
      EXPECT_EQ(payload["from"], "h0");
      EXPECT_EQ(payload["to"], cloud.hosts[world.location()[hot]].name);
    }
  }
  EXPECT_EQ(kinds["evacuation_plan"], 1);
  EXPECT_EQ(kinds["migrate_done"], 1);
  EXPECT_EQ(kinds["cold_stop_done"], 1);
  EXPECT_EQ(kinds["cold_start_issued"], 1);
  EXPECT_EQ(kinds["cold_move_done"], 1);
}

// Random hostile histories on small clouds: drains (one or two hosts, overlapping, some urgent), hosts losing
// contact mid-move and fenced a little later, VMs with and without disks, some that must move cold. Whatever
// happens: the engine never starts a VM while it runs anywhere, never exceeds a limit, finishes, and reports
// a VM moved only where it really runs alone.
TEST(EvacuationSafety, RandomHostileHistoriesKeepEveryInvariant) {
  for (std::uint32_t seed = 1; seed <= 400; ++seed) {
    SCOPED_TRACE(fmt::format("seed {}", seed));
    std::mt19937 random(seed);
    auto pick = [&random](int low, int high) {
      return std::uniform_int_distribution<int>(low, high)(random);
    };
    int host_count = pick(3, 6);
    Builder b(host_count, 256);
    b.cloud.endpoints[0].max_parallel = static_cast<std::uint32_t>(pick(2, 12));
    b.cloud.policy.host_max_parallel_migrations = static_cast<std::uint32_t>(pick(1, 8));
    int vm_count = pick(4, 16);
    for (int i = 0; i < vm_count; ++i) {
      auto host = static_cast<HostIndex>(pick(0, host_count - 1));
      std::uint32_t dirty = pick(0, 4) == 0 ? 2000 : static_cast<std::uint32_t>(pick(5, 150));
      auto vm = b.vm(fmt::format("v{}", i), host, static_cast<std::uint64_t>(pick(2, 32)), dirty);
      if (pick(0, 3) == 0) {  // no disks
        b.cloud.disks.pop_back();
        b.cloud.vms[vm].disk_count = 0;
      }
    }
    auto& cloud = b.done();
    Rig rig(cloud);
    int drains = pick(1, 3);
    std::vector<HostIndex> drained;
    HostIndex lost_host = kNoIndex;
    for (int d = 0; d < drains; ++d) {
      auto host = static_cast<HostIndex>(pick(0, host_count - 1));
      drained.push_back(host);
      double at = d == 0 ? 0.0 : pick(0, 200);
      double window = pick(60, 900);
      auto reason = pick(0, 2) == 0 ? EvacuationReason::predicted_failure : EvacuationReason::maintenance;
      rig.loop.schedule_after(
          at, [&rig, host, at, window, reason] { rig.evacuator.drain({host}, at + window, reason); });
    }
    if (pick(0, 1) == 0) {
      auto lost = static_cast<HostIndex>(pick(0, host_count - 1));
      lost_host = lost;
      double at = pick(1, 150);
      rig.loop.schedule_after(at, [&rig, lost] {
        rig.world.lose_contact(lost);
        rig.availability.set(lost, HostAvailability::Reason::not_up, true);
      });
      double fenced_at = at + pick(5, 60);
      rig.loop.schedule_after(fenced_at, [&rig, lost] { rig.fence(lost); });
      // Failure recovery (played here by the rule alone): after the fence, every VM left to it that runs
      // nowhere is restarted on another host (maybe one being drained) once a listing of every host that
      // answers leaves no other copy unproven; the engine hears of each restart.
      auto seed_of_recovery = static_cast<unsigned>(pick(0, 1 << 20));
      rig.loop.schedule_after(fenced_at + pick(1, 120), [&rig, &cloud, lost, host_count, seed_of_recovery] {
        std::mt19937 chooser(seed_of_recovery);
        auto reports = rig.evacuator.report();
        for (HostIndex h = 0; h < cloud.hosts.size(); ++h) {
          if (h == lost) continue;
          std::vector<VmIndex> running;
          for (VmIndex v = 0; v < cloud.vms.size(); ++v) {
            if (rig.world.location()[v] == h) running.push_back(v);
          }
          rig.copies.listed(h, running, rig.copies.version());
        }
        for (VmIndex v = 0; v < cloud.vms.size(); ++v) {
          if (rig.world.location()[v] != kNoIndex || !cloud.vms[v].protect) continue;
          auto found = std::find_if(reports.begin(), reports.end(), [v](const auto& r) { return r.vm == v; });
          bool ours = found == reports.end()
                          ? cloud.vms[v].host == lost
                          : found->reason.find("left to failure recovery") != std::string::npos &&
                                found->outcome == EvacuationOutcome::failed;
          if (!ours) continue;
          auto host = static_cast<HostIndex>(std::uniform_int_distribution<int>(0, host_count - 1)(chooser));
          if (host == lost || rig.copies.pending_on(v, host) || !rig.copies.unproven_besides(v, host).empty())
            continue;
          rig.world.place(v, host);
          rig.copies.seen_running(v, host);
          rig.evacuator.on_vm_recovered(v, host);
        }
      });
    }
    if (!rig.loop.run_bounded(1e5, 200000)) {
      ADD_FAILURE() << "the run does not end: at " << rig.loop.now_s() << " s";
      for (const auto& r : rig.evacuator.report()) {
        ADD_FAILURE() << cloud.vms[r.vm].name << " " << to_string(r.outcome) << " " << r.from << "->" << r.to
                      << ": " << r.reason;
      }
      continue;
    }
    EXPECT_TRUE(rig.world.violations.empty()) << rig.world.violations.front();
    for (const auto& text : rig.world.migrations().violations()) ADD_FAILURE() << text;
    EXPECT_FALSE(rig.evacuator.busy());
    for (const auto& r : rig.evacuator.report()) {
      const auto& name = cloud.vms[r.vm].name;
      EXPECT_TRUE(r.outcome != EvacuationOutcome::pending && r.outcome != EvacuationOutcome::migrating &&
                  r.outcome != EvacuationOutcome::moving_cold)
          << name << " still being moved: " << r.reason;
      if (r.outcome == EvacuationOutcome::migrated || r.outcome == EvacuationOutcome::moved_cold) {
        EXPECT_EQ(rig.world.location()[r.vm], r.to) << name << " reported moved: " << r.reason;
      }
      if (r.outcome == EvacuationOutcome::failed || r.outcome == EvacuationOutcome::not_placed ||
          r.running_at_deadline) {
        EXPECT_FALSE(r.reason.empty()) << name;
      }
    }
    // A drained host that was not lost holds at the end only VMs the report explains (no room elsewhere, a
    // move that failed), never one left there silently (restarted there, moved there, or never moved).
    auto reports = rig.evacuator.report();
    for (VmIndex v = 0; v < cloud.vms.size(); ++v) {
      auto where = rig.world.location()[v];
      if (where == kNoIndex || where == lost_host || !cloud.vms[v].protect) continue;
      if (std::find(drained.begin(), drained.end(), where) == drained.end()) continue;
      auto found = std::find_if(reports.begin(), reports.end(), [v](const auto& r) { return r.vm == v; });
      ASSERT_NE(found, reports.end()) << cloud.vms[v].name << " left on drained " << cloud.hosts[where].name;
      EXPECT_EQ(found->from, where) << cloud.vms[v].name << " " << to_string(found->outcome) << ": "
                                    << found->reason << "; copies: " << rig.copies.describe(v, cloud);
      EXPECT_TRUE(found->outcome == EvacuationOutcome::not_placed ||
                  found->outcome == EvacuationOutcome::failed)
          << cloud.vms[v].name << " " << to_string(found->outcome) << ": " << found->reason;
      EXPECT_FALSE(found->reason.empty()) << cloud.vms[v].name;
    }
    // Slots all back once everything answered or was fenced.
    EXPECT_EQ(rig.endpoint_slots_in_use(), 0u);
  }
}

}  // namespace
}  // namespace revive::exec
