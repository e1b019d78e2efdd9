// The planner spreads restarts over management endpoints: a start takes a slot of its target's endpoint, so
// restarts piled behind one endpoint bound the recovery however idle the others are.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "model/cloud.h"
#include "plan/placement_engine.h"
#include "plan/plan_checker.h"
#include "plan/planner.h"

namespace revive::plan {
namespace {

using model::HostIndex;
using model::VmIndex;

// h0 (failed) and h1 (an empty spare) are behind mgmt-a, h2 and h3 (half full) behind mgmt-b; both endpoints
// take `limit` operations at once. The least-loaded rule alone sends every VM of h0 to the spare.
struct TwoEndpoints {
  model::Cloud cloud;
  std::vector<VmIndex> moving;

  TwoEndpoints(int vms, std::uint32_t limit_a, std::uint32_t limit_b) {
    cloud.policy.host_max_parallel_restarts = 32;
    cloud.arrays.push_back({"array-1", 16});
    cloud.endpoints.push_back({"mgmt-a", limit_a});
    cloud.endpoints.push_back({"mgmt-b", limit_b});
    auto prod = cloud.symbols.intern("prod");
    for (int i = 0; i < 4; ++i) {
      model::Host host;
      host.name = "h" + std::to_string(i);
      host.cpus = 64;
      host.memory_mib = 256 * 1024;
      host.arch = cloud.default_arch();
      host.networks = {prod};
      host.arrays = {0};
      host.endpoint = i < 2 ? 0 : 1;
      cloud.hosts.push_back(host);
    }
    for (int i = 0; i < vms; ++i) {
      moving.push_back(add_vm("v" + std::to_string(i), 0, 1, 1,
                              i % 2 == 0 ? model::Priority::critical : model::Priority::low));
    }
    add_vm("filler-2", 2, 32, 128, model::Priority::low);
    add_vm("filler-3", 3, 32, 128, model::Priority::low);
    cloud.rebuild_indexes();
  }
  VmIndex add_vm(const std::string& name, HostIndex host, std::uint32_t cpus, std::uint64_t gib,
                 model::Priority priority) {
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
  // Restarts per endpoint, of VMs of `priority` or more important.
  std::map<std::string, int> per_endpoint(const Plan& plan,
                                          model::Priority priority = model::Priority::low) const {
    std::map<std::string, int> count{{"mgmt-a", 0}, {"mgmt-b", 0}};
    for (const auto& placement : plan.placements) {
      if (cloud.vms[placement.vm].priority <= priority)
        ++count[cloud.endpoints[cloud.hosts[placement.to].endpoint].name];
    }
    return count;
  }
};

PlanRequest failing_h0() {
  PlanRequest request;
  request.failed_hosts = {0};
  return request;
}

TEST(EndpointSpread, EqualLimitsSplitRestartsAboutEvenly) {
  TwoEndpoints setup(16, 4, 4);
  Plan plan = plan_failover(setup.cloud, failing_h0());
  ASSERT_EQ(plan.placements.size(), 16u);
  EXPECT_TRUE(find_plan_violations(setup.cloud, failing_h0(), plan).empty());
  auto count = setup.per_endpoint(plan);
  EXPECT_GE(count["mgmt-a"], 7);
  EXPECT_GE(count["mgmt-b"], 7);
  // Every tier is split too, not only the whole: the critical VMs alone need 2 waves behind one endpoint.
  auto critical = setup.per_endpoint(plan, model::Priority::critical);
  EXPECT_GE(critical["mgmt-a"], 3);
  EXPECT_GE(critical["mgmt-b"], 3);
}

TEST(EndpointSpread, WithoutSpreadingTheEmptySpareTakesEverything) {
  TwoEndpoints setup(16, 4, 4);
  PlannerOptions options;
  options.spread_over_endpoints = false;
  Plan plan = plan_failover(setup.cloud, failing_h0(), options);
  auto count = setup.per_endpoint(plan);
  EXPECT_EQ(count["mgmt-a"], 16);
  EXPECT_EQ(count["mgmt-b"], 0);
}

TEST(EndpointSpread, SplitFollowsMaxParallel) {
  TwoEndpoints setup(20, 12, 4);  // mgmt-a three times the slots of mgmt-b: about 15 / 5
  Plan plan = plan_failover(setup.cloud, failing_h0());
  auto count = setup.per_endpoint(plan);
  EXPECT_GE(count["mgmt-a"], 13);
  EXPECT_GE(count["mgmt-b"], 4);
  EXPECT_LE(count["mgmt-b"], 7);
}

TEST(EndpointSpread, NothingMovesWhileEveryEndpointRunsItsStartsInOneWave) {
  TwoEndpoints setup(16, 16, 16);
  Plan plan = plan_failover(setup.cloud, failing_h0());
  EXPECT_EQ(setup.per_endpoint(plan)["mgmt-a"], 16);
  for (const auto& placement : plan.placements) EXPECT_FALSE(placement.spread_over_endpoints);
}

TEST(EndpointSpread, AntiAffinityStillHolds) {
  TwoEndpoints setup(16, 4, 4);
  // v0..v7 pairwise apart per host: at most one on each of h1, h2, h3.
  setup.cloud.groups.push_back({"apart",
                                model::GroupKind::anti_affinity,
                                setup.cloud.scope_host(),
                                {setup.moving[0], setup.moving[2], setup.moving[4]}});
  setup.cloud.rebuild_indexes();
  Plan plan = plan_failover(setup.cloud, failing_h0());
  EXPECT_TRUE(find_plan_violations(setup.cloud, failing_h0(), plan).empty());
  EXPECT_EQ(plan.placements.size(), 16u);
}

TEST(EndpointSpread, ExplainSaysAHostWasPassedOverForEndpointBalance) {
  TwoEndpoints setup(16, 4, 4);
  Plan plan = plan_failover(setup.cloud, failing_h0());
  VmIndex spread = model::kNoIndex;
  for (const auto& placement : plan.placements) {
    if (placement.spread_over_endpoints) spread = placement.vm;
  }
  ASSERT_NE(spread, model::kNoIndex);
  PlacementEngine engine(setup.cloud);
  auto verdicts = engine.explain(failing_h0(), plan, spread);
  ASSERT_EQ(verdicts.size(), 4u);
  EXPECT_NE(verdicts[1].reason.find("passed over to spread restarts over endpoints"), std::string::npos)
      << verdicts[1].reason;
  EXPECT_NE(verdicts[1].reason.find("mgmt-a"), std::string::npos) << verdicts[1].reason;
  bool chosen_says_why = false;
  for (const auto& verdict : verdicts) {
    if (verdict.chosen) chosen_says_why = verdict.reason.find("spread restarts") != std::string::npos;
  }
  EXPECT_TRUE(chosen_says_why);
}

}  // namespace
}  // namespace revive::plan
