// The independent plan checker itself: each rule fires on a hand-made plan that breaks it, and stays quiet on
// a sound one. (The planner's property tests trust it, so it is tested first.)
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "plan/plan_checker.h"
#include "plan/support/cloud_builder.h"

namespace revive::plan {
namespace {

using model::GroupKind;
using model::Priority;
using testing::CloudBuilder;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

PlanRequest fail(const model::Cloud& cloud, std::vector<std::string> failed,
                 std::vector<std::string> evacuated = {}, std::vector<std::string> excluded = {}) {
  PlanRequest request;
  for (const auto& name : failed) request.failed_hosts.push_back(cloud.find_host(name));
  for (const auto& name : evacuated) request.evacuated_hosts.push_back(cloud.find_host(name));
  for (const auto& name : excluded) request.excluded_hosts.push_back(cloud.find_host(name));
  return request;
}

// A plan as a correct planner would write it around the given decisions: effective priorities, `from`,
// start_after and start order filled in.
Plan make_plan(const model::Cloud& cloud, const PlanRequest& request,
               std::vector<std::pair<std::string, std::string>> placements,
               std::vector<std::string> waiting) {
  std::vector<Priority> effective = independent_effective_priorities(cloud);
  Plan plan;
  plan.failed_hosts = request.failed_hosts;
  plan.evacuated_hosts = request.evacuated_hosts;
  for (const auto& [vm_name, host_name] : placements) {
    Placement placement;
    placement.vm = cloud.find_vm(vm_name);
    placement.from = cloud.vms[placement.vm].host;
    placement.to = cloud.find_host(host_name);
    placement.effective_priority = effective[placement.vm];
    plan.placements.push_back(placement);
  }
  for (Placement& placement : plan.placements) {
    for (model::VmIndex dependency : cloud.vms[placement.vm].after) {
      bool dependency_placed = std::any_of(plan.placements.begin(), plan.placements.end(),
                                           [&](const Placement& other) { return other.vm == dependency; });
      if (dependency_placed) placement.start_after.push_back(dependency);
    }
  }
  std::stable_sort(
      plan.placements.begin(), plan.placements.end(),
      [](const Placement& a, const Placement& b) { return a.effective_priority < b.effective_priority; });
  for (const auto& vm_name : waiting) {
    Waiting entry;
    entry.vm = cloud.find_vm(vm_name);
    entry.from = cloud.vms[entry.vm].host;
    entry.effective_priority = effective[entry.vm];
    entry.reason = "no room";
    plan.waiting.push_back(entry);
  }
  return plan;
}

// Two racks of two hosts each, 8 vCPU / 8 GiB per host.
CloudBuilder two_racks() {
  CloudBuilder builder;
  builder.array("array-a").array("array-b");
  for (auto [name, rack] : {std::pair{"h1", "r1"}, {"h2", "r1"}, {"h3", "r2"}, {"h4", "r2"}}) {
    builder.host({.name = name,
                  .cpus = 8,
                  .memory_mib = 8192,
                  .labels = {{"rack", rack}},
                  .networks = {"prod"},
                  .arrays = {"array-a"}});
  }
  return builder;
}

TEST(PlanChecker, AcceptsASoundPlan) {
  auto cloud =
      two_racks()
          .vm({.name = "a", .host = "h1", .cpus = 4, .networks = {"prod"}, .disk_arrays = {"array-a"}})
          .vm({.name = "b", .host = "h1", .cpus = 4, .after = {"a"}})
          .vm({.name = "stays", .host = "h2", .cpus = 4})
          .build();
  auto request = fail(cloud, {"h1"});
  auto plan = make_plan(cloud, request, {{"a", "h2"}, {"b", "h3"}}, {});
  EXPECT_THAT(find_plan_violations(cloud, request, plan), IsEmpty());
}

TEST(PlanChecker, FlagsTargetsThatAreNotUsable) {
  auto cloud = two_racks()
                   .host({.name = "down", .state = model::HostState::down})
                   .host({.name = "arm", .arch = "aarch64"})
                   .vm({.name = "a", .host = "h1"})
                   .vm({.name = "b", .host = "h1"})
                   .vm({.name = "c", .host = "h1"})
                   .vm({.name = "d", .host = "h1"})
                   .vm({.name = "e", .host = "h1"})
                   .vm({.name = "f", .host = "h4"})
                   .build();
  auto request = fail(cloud, {"h1", "h2"}, {"h4"}, {"h3"});
  auto plan =
      make_plan(cloud, request, {{"a", "down"}, {"b", "arm"}, {"c", "h2"}, {"d", "h3"}, {"e", "h4"}}, {"f"});
  auto violations = find_plan_violations(cloud, request, plan);
  EXPECT_THAT(violations, ::testing::Contains(HasSubstr("a placed on down: down is down, not up")));
  EXPECT_THAT(violations,
              ::testing::Contains(HasSubstr("b placed on arm: arm is aarch64 but the VM is x86_64")));
  EXPECT_THAT(violations, ::testing::Contains(HasSubstr("c placed on h2: h2 is a failed host")));
  EXPECT_THAT(violations, ::testing::Contains(HasSubstr("d placed on h3: h3 is excluded")));
  EXPECT_THAT(violations, ::testing::Contains(HasSubstr("e placed on h4: h4 is being evacuated")));
}

TEST(PlanChecker, FlagsMissingLabelNetworkAndArray) {
  auto cloud = two_racks()
                   .host({.name = "bare"})
                   .vm({.name = "licensed", .host = "h1", .require_labels = {{"rack", "r1"}}})
                   .vm({.name = "networked", .host = "h1", .networks = {"prod"}})
                   .vm({.name = "stored", .host = "h1", .disk_arrays = {"array-a"}})
                   .build();
  auto request = fail(cloud, {"h1"});
  auto plan = make_plan(cloud, request, {{"licensed", "h3"}, {"networked", "bare"}, {"stored", "bare"}}, {});
  auto violations = find_plan_violations(cloud, request, plan);
  EXPECT_THAT(violations, ::testing::Contains(HasSubstr("h3 lacks required label rack=r1")));
  EXPECT_THAT(violations, ::testing::Contains(HasSubstr("bare is not on network prod")));
  EXPECT_THAT(violations,
              ::testing::Contains(HasSubstr("bare does not reach array array-a of disk stored-disk0")));
}

TEST(PlanChecker, CountsStayingVmsAndOvercommitInCapacity) {
  auto cloud = two_racks()
                   .overcommit(2.0, 1.0)
                   .vm({.name = "a", .host = "h1", .cpus = 8, .memory_mib = 2048})
                   .vm({.name = "b", .host = "h1", .cpus = 2, .memory_mib = 6144})
                   .vm({.name = "stays", .host = "h2", .cpus = 8, .memory_mib = 4096})
                   .build();
  auto request = fail(cloud, {"h1"});
  // h2: 16 usable vCPU, 8 used + 8 placed fits; memory 4 GiB + 2 GiB fits.
  EXPECT_THAT(find_plan_violations(cloud, request, make_plan(cloud, request, {{"a", "h2"}}, {"b"})),
              ::testing::Not(::testing::Contains(HasSubstr("capacity"))));
  auto violations =
      find_plan_violations(cloud, request, make_plan(cloud, request, {{"a", "h2"}, {"b", "h2"}}, {}));
  EXPECT_THAT(violations, ::testing::Contains(HasSubstr("h2 is over cpu capacity: 18 vCPU")));
  EXPECT_THAT(violations, ::testing::Contains(HasSubstr("h2 is over memory capacity: 12288 MiB")));
}

TEST(PlanChecker, ChecksAntiAffinityOverMovingAndStayingMembers) {
  auto cloud = two_racks()
                   .vm({.name = "a", .host = "h1"})
                   .vm({.name = "b", .host = "h3"})
                   .vm({.name = "c", .host = "h2"})
                   .vm({.name = "d", .host = "h4"})
                   .group("pair", GroupKind::anti_affinity, "host", {"a", "b"})
                   .group("racks", GroupKind::anti_affinity, "rack", {"c", "d"})
                   .build();
  auto request = fail(cloud, {"h2", "h3"});
  // b and c both move: b lands next to a (host scope), c lands in d's rack.
  auto violations =
      find_plan_violations(cloud, request, make_plan(cloud, request, {{"b", "h1"}, {"c", "h4"}}, {}));
  EXPECT_THAT(violations,
              ::testing::Contains(HasSubstr("anti-affinity group pair violated: a on h1 and b on h1")));
  EXPECT_THAT(violations,
              ::testing::Contains(HasSubstr("anti-affinity group racks violated: c on h4 (rack=r2)")));
  EXPECT_THAT(find_plan_violations(cloud, request, make_plan(cloud, request, {{"b", "h4"}, {"c", "h1"}}, {})),
              IsEmpty());
}

TEST(PlanChecker, ChecksAntiAffinityAcrossTwoMovingVms) {
  auto cloud = two_racks()
                   .vm({.name = "a", .host = "h1"})
                   .vm({.name = "b", .host = "h2"})
                   .group("pair", GroupKind::anti_affinity, "host", {"a", "b"})
                   .build();
  auto request = fail(cloud, {"h1", "h2"});
  EXPECT_THAT(find_plan_violations(cloud, request, make_plan(cloud, request, {{"a", "h3"}, {"b", "h3"}}, {})),
              ElementsAre(HasSubstr("anti-affinity group pair violated")));
}

TEST(PlanChecker, WaitingVmOfAnEvacuatedHostStillCountsForGroups) {
  auto cloud = two_racks()
                   .vm({.name = "a", .host = "h1", .cpus = 8})
                   .vm({.name = "b", .host = "h3"})
                   .vm({.name = "half", .host = "h2", .cpus = 4})
                   .vm({.name = "full", .host = "h4", .cpus = 8})
                   .group("racks", GroupKind::anti_affinity, "rack", {"a", "b"})
                   .build();
  // a is drained but finds no room, so it keeps running on h1 in rack r1; b must not restart in r1.
  auto request = fail(cloud, {"h3"}, {"h1"});
  EXPECT_THAT(find_plan_violations(cloud, request, make_plan(cloud, request, {{"b", "h2"}}, {"a"})),
              ElementsAre(HasSubstr(
                  "anti-affinity group racks violated: a on h1 (rack=r1) [waiting, so still running "
                  "on its evacuated host] and b on h2 (rack=r1)")));
  EXPECT_THAT(find_plan_violations(cloud, request, make_plan(cloud, request, {}, {"a", "b"})), IsEmpty());
}

TEST(PlanChecker, ChecksAffinityOverTheFinalPlacement) {
  auto cloud = two_racks()
                   .vm({.name = "a", .host = "h1"})
                   .vm({.name = "b", .host = "h1"})
                   .vm({.name = "c", .host = "h3"})
                   .vm({.name = "d", .host = "h4"})
                   .group("together", GroupKind::affinity, "host", {"a", "b"})
                   .group("same-rack", GroupKind::affinity, "rack", {"c", "d"})
                   .build();
  auto request = fail(cloud, {"h1", "h3"});
  auto violations = find_plan_violations(
      cloud, request, make_plan(cloud, request, {{"a", "h2"}, {"b", "h4"}, {"c", "h1"}}, {}));
  EXPECT_THAT(violations, ::testing::Contains(HasSubstr("failed host")));
  violations = find_plan_violations(cloud, request,
                                    make_plan(cloud, request, {{"a", "h2"}, {"b", "h4"}, {"c", "h2"}}, {}));
  EXPECT_THAT(violations,
              ::testing::Contains(HasSubstr("affinity group together split: a on h2 but b on h4")));
  EXPECT_THAT(violations, ::testing::Contains(HasSubstr("affinity group same-rack split")));
  EXPECT_THAT(find_plan_violations(cloud, request,
                                   make_plan(cloud, request, {{"a", "h2"}, {"b", "h2"}, {"c", "h4"}}, {})),
              IsEmpty());
}

TEST(PlanChecker, ChecksCoverage) {
  auto cloud = two_racks()
                   .vm({.name = "a", .host = "h1"})
                   .vm({.name = "b", .host = "h1"})
                   .vm({.name = "ignored", .host = "h1", .protect = false})
                   .vm({.name = "elsewhere", .host = "h2"})
                   .build();
  auto request = fail(cloud, {"h1"});
  auto violations = find_plan_violations(
      cloud, request, make_plan(cloud, request, {{"a", "h3"}, {"ignored", "h3"}}, {"elsewhere"}));
  EXPECT_THAT(violations, ::testing::UnorderedElementsAre(
                              HasSubstr("protected VM b of host h1 is neither placed nor waiting"),
                              HasSubstr("ignored has protect: false but is in the plan"),
                              HasSubstr("elsewhere is in the plan but is not a VM the request moves")));
  violations =
      find_plan_violations(cloud, request, make_plan(cloud, request, {{"a", "h3"}, {"b", "h3"}}, {"a"}));
  EXPECT_THAT(violations, ElementsAre(HasSubstr("a is listed 2 times")));
}

TEST(PlanChecker, ComputesEffectivePrioritiesThroughAfterChains) {
  auto cloud = two_racks()
                   .vm({.name = "database", .host = "h1", .priority = Priority::low})
                   .vm({.name = "cache", .host = "h1", .priority = Priority::low, .after = {"database"}})
                   .vm({.name = "frontend", .host = "h1", .priority = Priority::critical, .after = {"cache"}})
                   .vm({.name = "batch", .host = "h1", .priority = Priority::medium, .after = {"database"}})
                   .build();
  EXPECT_THAT(independent_effective_priorities(cloud),
              ElementsAre(Priority::critical, Priority::critical, Priority::critical, Priority::medium));
}

TEST(PlanChecker, ChecksStartOrderAndStartAfter) {
  auto cloud = two_racks()
                   .vm({.name = "database", .host = "h1", .priority = Priority::low})
                   .vm({.name = "app", .host = "h1", .priority = Priority::high, .after = {"database"}})
                   .vm({.name = "batch", .host = "h1", .priority = Priority::low})
                   .build();
  auto request = fail(cloud, {"h1"});
  auto plan = make_plan(cloud, request, {{"database", "h2"}, {"app", "h2"}, {"batch", "h3"}}, {});
  EXPECT_THAT(find_plan_violations(cloud, request, plan), IsEmpty());
  EXPECT_EQ(plan.placements[0].effective_priority, Priority::high);  // database, lifted by app

  auto stale = plan;
  stale.placements[0].effective_priority = Priority::low;
  EXPECT_THAT(find_plan_violations(cloud, request, stale),
              ElementsAre(HasSubstr("placement of database has effective priority low, expected high")));

  auto reordered = plan;
  std::swap(reordered.placements[0], reordered.placements[2]);
  EXPECT_THAT(find_plan_violations(cloud, request, reordered),
              ::testing::Contains(HasSubstr("placements out of start order")));

  auto unordered = plan;
  std::swap(unordered.placements[0], unordered.placements[1]);
  unordered.placements[0].start_after.clear();
  EXPECT_THAT(find_plan_violations(cloud, request, unordered),
              ::testing::UnorderedElementsAre(HasSubstr("start_after of app lacks database")));
}

TEST(PlanChecker, FlagsAVmThatWaitsAlthoughItFits) {
  auto cloud = two_racks()
                   .vm({.name = "a", .host = "h1", .cpus = 4})
                   .vm({.name = "b", .host = "h1", .cpus = 4})
                   .build();
  auto request = fail(cloud, {"h1"});
  EXPECT_THAT(find_plan_violations(cloud, request, make_plan(cloud, request, {{"a", "h2"}}, {"b"})),
              ElementsAre(HasSubstr("b (medium) waits although it fits on h2")));
}

TEST(PlanChecker, FlagsPriorityInversion) {
  auto cloud = two_racks()
                   .vm({.name = "important", .host = "h1", .cpus = 6, .priority = Priority::high})
                   .vm({.name = "filler", .host = "h1", .cpus = 5, .priority = Priority::low})
                   .vm({.name = "full2", .host = "h2", .cpus = 2})
                   .vm({.name = "full3", .host = "h3", .cpus = 4})
                   .vm({.name = "full4", .host = "h4", .cpus = 4})
                   .build();
  auto request = fail(cloud, {"h1"});
  EXPECT_THAT(
      find_plan_violations(cloud, request, make_plan(cloud, request, {{"filler", "h2"}}, {"important"})),
      ElementsAre(HasSubstr("priority inversion: important (high) waits although it would fit on h2 in "
                            "place of filler (low)")));
  EXPECT_THAT(
      find_plan_violations(cloud, request, make_plan(cloud, request, {{"important", "h2"}}, {"filler"})),
      IsEmpty());
}

TEST(PlanChecker, AffinityBindsOnlyMembersThatRun) {
  auto cloud = two_racks()
                   .vm({.name = "a", .host = "h1", .cpus = 4})
                   .vm({.name = "b", .host = "h1", .cpus = 6})
                   .vm({.name = "full2", .host = "h2", .cpus = 4})
                   .vm({.name = "full3", .host = "h3", .cpus = 4})
                   .vm({.name = "full4", .host = "h4", .cpus = 4})
                   .group("pair", GroupKind::affinity, "host", {"a", "b"})
                   .build();
  auto request = fail(cloud, {"h1"});
  // a alone fits, b does not: b waits on a failed host, so it binds a to nothing.
  EXPECT_THAT(find_plan_violations(cloud, request, make_plan(cloud, request, {}, {"a", "b"})),
              ElementsAre(HasSubstr("a (medium) waits although it fits on h2")));
  EXPECT_THAT(find_plan_violations(cloud, request, make_plan(cloud, request, {{"a", "h2"}}, {"b"})),
              IsEmpty());
}

}  // namespace
}  // namespace revive::plan
