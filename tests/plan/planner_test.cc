// Unit tests of the heuristic planner on small hand-built clouds: each checks one rule of the spec.
#include <gtest/gtest.h>

#include <algorithm>

#include "model/cloud.h"
#include "plan/placement_engine.h"
#include "plan/planner.h"
#include "plan/precomputed_plans.h"

namespace revive::plan {
namespace {

using model::Cloud;
using model::HostIndex;
using model::kNoIndex;
using model::VmIndex;

// Builds a cloud of identical hosts (cpus, GiB) on one array, one network, racks by host index % racks.
struct CloudBuilder {
  Cloud cloud;
  CloudBuilder(int hosts, std::uint32_t cpus, std::uint64_t gib, int racks = 1) {
    cloud.arrays.push_back({"array-1", 8});
    cloud.endpoints.push_back({"mgmt", 16});
    auto rack = cloud.symbols.intern("rack");
    auto prod = cloud.symbols.intern("prod");
    for (int i = 0; i < hosts; ++i) {
      model::Host host;
      host.name = "h" + std::to_string(i);
      host.cpus = cpus;
      host.memory_mib = gib * 1024;
      host.arch = cloud.default_arch();
      host.labels = {{rack, cloud.symbols.intern("r" + std::to_string(i % racks))}};
      host.networks = {prod};
      host.arrays = {0};
      host.endpoint = 0;
      cloud.hosts.push_back(host);
    }
  }
  VmIndex vm(const std::string& name, HostIndex host, std::uint32_t cpus, std::uint64_t gib,
             model::Priority priority = model::Priority::medium) {
    model::Vm vm;
    vm.name = name;
    vm.host = host;
    vm.cpus = cpus;
    vm.memory_mib = gib * 1024;
    vm.priority = priority;
    vm.networks = {cloud.symbols.find("prod")};
    vm.first_disk = static_cast<model::DiskIndex>(cloud.disks.size());
    vm.disk_count = 1;
    cloud.disks.push_back({name + "-d", 0, 10, static_cast<VmIndex>(cloud.vms.size())});
    cloud.vms.push_back(vm);
    return static_cast<VmIndex>(cloud.vms.size() - 1);
  }
  void group(const std::string& name, model::GroupKind kind, const std::string& scope,
             std::vector<VmIndex> members) {
    cloud.groups.push_back({name, kind, cloud.symbols.intern(scope), std::move(members)});
  }
  Cloud& done() {
    cloud.rebuild_indexes();
    return cloud;
  }
};

PlanRequest failing(std::vector<HostIndex> hosts) {
  PlanRequest request;
  request.failed_hosts = std::move(hosts);
  return request;
}

HostIndex target_of(const Plan& plan, VmIndex vm) {
  for (const auto& placement : plan.placements) {
    if (placement.vm == vm) return placement.to;
  }
  return kNoIndex;
}

bool waits(const Plan& plan, VmIndex vm) {
  return std::any_of(plan.waiting.begin(), plan.waiting.end(), [&](const Waiting& w) { return w.vm == vm; });
}

TEST(Planner, SpreadsLoadAcrossTargets) {
  CloudBuilder b(4, 16, 64);
  std::vector<VmIndex> vms;
  for (int i = 0; i < 3; ++i) vms.push_back(b.vm("v" + std::to_string(i), 0, 2, 8));
  auto& cloud = b.done();
  Plan plan = plan_failover(cloud, failing({0}));
  ASSERT_EQ(plan.placements.size(), 3u);
  std::vector<HostIndex> targets;
  for (auto vm : vms) targets.push_back(target_of(plan, vm));
  std::sort(targets.begin(), targets.end());
  EXPECT_EQ(targets, (std::vector<HostIndex>{1, 2, 3}));  // one per host, not packed
}

TEST(Planner, PriorityDecidesWhoWaits) {
  CloudBuilder b(2, 16, 32);
  b.vm("filler", 1, 1, 16);
  auto low = b.vm("low", 0, 1, 16, model::Priority::low);
  auto critical = b.vm("critical", 0, 1, 16, model::Priority::critical);
  auto& cloud = b.done();
  Plan plan = plan_failover(cloud, failing({0}));
  EXPECT_EQ(target_of(plan, critical), 1u);
  ASSERT_TRUE(waits(plan, low));
  EXPECT_NE(plan.waiting[0].reason.find("needs 1 vCPU and 16.0 GiB"), std::string::npos)
      << plan.waiting[0].reason;
}

TEST(Planner, AfterDependencyInheritsPriority) {
  CloudBuilder b(2, 16, 32);
  b.vm("filler", 1, 1, 16);
  auto high = b.vm("web", 0, 1, 8, model::Priority::high);
  auto db = b.vm("db", 0, 1, 16, model::Priority::low);
  b.cloud.vms[high].after = {db};
  auto& cloud = b.done();
  Plan plan = plan_failover(cloud, failing({0}));
  // db (low) is lifted to high, placed first; web then does not fit and waits for capacity, not the reverse.
  EXPECT_EQ(target_of(plan, db), 1u);
  EXPECT_TRUE(waits(plan, high));
  ASSERT_FALSE(plan.placements.empty());
  EXPECT_EQ(plan.placements[0].effective_priority, model::Priority::high);
}

TEST(Planner, DependentOfWaitingVmWaitsWithReason) {
  CloudBuilder b(2, 16, 32);
  b.vm("filler", 1, 1, 24);
  auto db = b.vm("db", 0, 1, 16, model::Priority::high);
  auto web = b.vm("web", 0, 1, 1, model::Priority::high);
  b.cloud.vms[web].after = {db};
  auto& cloud = b.done();
  Plan plan = plan_failover(cloud, failing({0}));
  EXPECT_TRUE(waits(plan, db));
  ASSERT_TRUE(waits(plan, web));
  auto it =
      std::find_if(plan.waiting.begin(), plan.waiting.end(), [&](const Waiting& w) { return w.vm == web; });
  EXPECT_NE(it->reason.find("waits for db"), std::string::npos);
}

TEST(Planner, AntiAffinityHoldsAmongMovingVms) {
  CloudBuilder b(3, 64, 256);
  auto a = b.vm("a", 0, 1, 1);
  auto c = b.vm("c", 0, 1, 1);
  b.group("pair", model::GroupKind::anti_affinity, "host", {a, c});
  auto& cloud = b.done();
  Plan plan = plan_failover(cloud, failing({0}));
  ASSERT_EQ(plan.placements.size(), 2u);
  EXPECT_NE(target_of(plan, a), target_of(plan, c));
}

TEST(Planner, AntiAffinityRackScopeCountsStayingMembers) {
  CloudBuilder b(4, 64, 256, 2);  // h0,h2 in r0; h1,h3 in r1
  auto moving = b.vm("moving", 0, 1, 1);
  auto staying = b.vm("staying", 1, 1, 1);
  b.group("racks", model::GroupKind::anti_affinity, "rack", {moving, staying});
  auto& cloud = b.done();
  Plan plan = plan_failover(cloud, failing({0}));
  EXPECT_EQ(target_of(plan, moving), 2u);  // the only host not in r1
}

TEST(Planner, AffinityGroupMovesTogether) {
  CloudBuilder b(4, 64, 256);
  auto app = b.vm("app", 0, 4, 8);
  auto cache = b.vm("cache", 0, 2, 4);
  b.group("pair", model::GroupKind::affinity, "host", {app, cache});
  auto& cloud = b.done();
  Plan plan = plan_failover(cloud, failing({0}));
  ASSERT_EQ(plan.placements.size(), 2u);
  EXPECT_EQ(target_of(plan, app), target_of(plan, cache));
}

TEST(Planner, UnprotectedVmsAreNeverPlanned) {
  CloudBuilder b(2, 16, 64);
  auto vm = b.vm("scratch", 0, 1, 1);
  b.cloud.vms[vm].protect = false;
  auto& cloud = b.done();
  Plan plan = plan_failover(cloud, failing({0}));
  EXPECT_TRUE(plan.placements.empty());
  EXPECT_TRUE(plan.waiting.empty());
}

TEST(Planner, RequireLabelsAndMissingArrayAreExplained) {
  CloudBuilder b(3, 16, 64);
  b.cloud.hosts[2].labels.push_back({b.cloud.symbols.intern("license"), b.cloud.symbols.intern("db")});
  std::sort(b.cloud.hosts[2].labels.begin(), b.cloud.hosts[2].labels.end(),
            [](auto& x, auto& y) { return x.key < y.key; });
  auto licensed = b.vm("oracle", 0, 1, 1);
  b.cloud.vms[licensed].require_labels = {{b.cloud.symbols.find("license"), b.cloud.symbols.find("db")}};
  auto& cloud = b.done();
  Plan plan = plan_failover(cloud, failing({0}));
  EXPECT_EQ(target_of(plan, licensed), 2u);
  Plan second = plan_failover(cloud, failing({0, 2}));
  ASSERT_TRUE(waits(second, licensed));
  EXPECT_NE(second.waiting[0].reason.find("license=db"), std::string::npos) << second.waiting[0].reason;
}

TEST(Planner, ReservedSpareTakesFailover) {
  CloudBuilder b(2, 16, 32);
  b.vm("filler", 1, 8, 30);
  auto vm = b.vm("v", 0, 2, 16);
  b.cloud.hosts.push_back(b.cloud.hosts[1]);
  b.cloud.hosts.back().name = "spare";
  b.cloud.hosts.back().reserved = true;
  auto& cloud = b.done();
  Plan plan = plan_failover(cloud, failing({0}));
  EXPECT_EQ(target_of(plan, vm), 2u);
}

TEST(Planner, RepairMovesAPlannedVmToMakeRoom) {
  // h1 has 16 GiB free, h2 10 GiB. Spreading sends the high VM (8 GiB) to h1, the emptier; the medium VM (16
  // GiB) then fits nowhere until the high VM is moved to h2.
  CloudBuilder b(3, 64, 32);
  b.vm("filler-1", 1, 1, 16);
  b.vm("filler-2", 2, 1, 22);
  auto high = b.vm("high", 0, 1, 8, model::Priority::high);
  auto medium = b.vm("medium", 0, 1, 16, model::Priority::medium);
  auto& cloud = b.done();
  Plan plan = plan_failover(cloud, failing({0}));
  EXPECT_EQ(target_of(plan, high), 2u);
  EXPECT_EQ(target_of(plan, medium), 1u);
}

TEST(Planner, EngineStateIsRestoredBetweenPlans) {
  CloudBuilder b(6, 16, 64, 3);
  for (int i = 0; i < 12; ++i) b.vm("v" + std::to_string(i), i % 6, 2, 8);
  auto& cloud = b.done();
  PlacementEngine engine(cloud);
  PlannerOptions options;
  Plan first = engine.plan(failing({0, 3}), options);
  engine.plan(failing({1}), options);
  Plan again = engine.plan(failing({0, 3}), options);
  ASSERT_EQ(first.placements.size(), again.placements.size());
  for (std::size_t i = 0; i < first.placements.size(); ++i) {
    EXPECT_EQ(first.placements[i].vm, again.placements[i].vm);
    EXPECT_EQ(first.placements[i].to, again.placements[i].to);
  }
  Plan fresh = plan_failover(cloud, failing({0, 3}));
  for (std::size_t i = 0; i < first.placements.size(); ++i)
    EXPECT_EQ(first.placements[i].to, fresh.placements[i].to);
}

TEST(Planner, ExplainGivesAVerdictPerHost) {
  CloudBuilder b(3, 16, 64);
  auto vm = b.vm("v", 0, 2, 8);
  b.cloud.hosts[2].state = model::HostState::maintenance;
  auto& cloud = b.done();
  PlanRequest request = failing({0});
  Plan plan = plan_failover(cloud, request);
  PlacementEngine engine(cloud);
  auto verdicts = engine.explain(request, plan, vm);
  ASSERT_EQ(verdicts.size(), 3u);
  EXPECT_EQ(verdicts[0].reason, "failed");
  EXPECT_TRUE(verdicts[1].chosen);
  EXPECT_EQ(verdicts[2].reason, "state is maintenance");
}

TEST(PrecomputedPlans, IncrementalUpdateMatchesFreshPlansForAffectedHosts) {
  CloudBuilder b(40, 32, 64, 4);
  for (int i = 0; i < 80; ++i) b.vm("v" + std::to_string(i), i % 40, 2, 6);
  auto& cloud = b.done();
  PrecomputedPlans prestaged(cloud, {cloud.symbols.find("rack")});
  EXPECT_EQ(prestaged.plans().size(), 40u + 4u);
  ASSERT_NE(prestaged.find({0}), nullptr);
  std::vector<HostIndex> rack_zero;
  for (HostIndex h = 36;; h -= 4) {  // rack r0 = h0, h4, ... h36, in any order
    rack_zero.push_back(h);
    if (h == 0) break;
  }
  ASSERT_NE(prestaged.find(rack_zero), nullptr);
  // Move v38 from h38 to h39: plans failing h38 or h39 must now match a fresh computation.
  cloud.vms[38].host = 39;
  std::size_t recomputed = prestaged.on_vm_moved(38, 38);
  EXPECT_GE(recomputed, 2u);
  EXPECT_LT(recomputed, prestaged.plans().size());
  cloud.rebuild_indexes();
  for (HostIndex h : {38u, 39u}) {
    Plan fresh = plan_failover(cloud, failing({h}));
    const Plan& kept = prestaged.find({h})->plan;
    ASSERT_EQ(fresh.placements.size(), kept.placements.size());
    for (std::size_t i = 0; i < fresh.placements.size(); ++i) {
      EXPECT_EQ(fresh.placements[i].vm, kept.placements[i].vm);
      EXPECT_EQ(fresh.placements[i].to, kept.placements[i].to);
    }
  }
}

}  // namespace
}  // namespace revive::plan
