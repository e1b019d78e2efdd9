// Property test of the heuristic planner: thousands of random clouds and failures (tests/plan/support/
// random_cloud.h), every plan checked by the independent checker (plan/plan_checker.h). A failure prints the
// seed; reproduce one with REVIVE_PROPERTY_SEED=<seed> build/<preset>/tests/plan_test
// --gtest_filter='PlannerProperty.*'. Also hand-made edge cases the random clouds hit only rarely.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <string>

#include "plan/plan_checker.h"
#include "plan/planner.h"
#include "plan/support/cloud_builder.h"
#include "plan/support/random_cloud.h"

namespace revive::plan {
namespace {

using model::GroupKind;
using model::Priority;
using testing::CloudBuilder;
using ::testing::IsEmpty;

constexpr std::uint64_t kRandomClouds = 3000;

std::string describe(const std::vector<std::string>& violations) {
  std::string text;
  for (std::size_t i = 0; i < violations.size() && i < 8; ++i) text += "\n  " + violations[i];
  if (violations.size() > 8) text += "\n  ... and " + std::to_string(violations.size() - 8) + " more";
  return text;
}

// Planner issues this test found, reported to the planner's author: tolerated (counted and printed) so that
// the test guards everything else meanwhile. Delete an entry once fixed; from then on the test requires zero.
// Each is recognised by a phrase of the checker's own message (plan_checker.cc);
// PlannerKnownIssues.* below reproduce the issues it found (all fixed) on minimal clouds.
struct KnownIssue {
  const char* description;
  const char* phrase;
  std::uint64_t seen = 0;
};

std::vector<KnownIssue> known_issues() {
  return {};  // none open: the five found by this test were fixed in the planner (reproducers below)
}

// Checks every seed below `count` (or only REVIVE_PROPERTY_SEED when set): `plan_for(seed)` gives the
// instance and its plan. Reports the first few failing seeds in full and how many failed.
template <typename PlanFor>
void check_seeds(const char* what, std::uint64_t count, PlanFor plan_for) {
  std::vector<std::uint64_t> seeds;
  if (const char* only = std::getenv("REVIVE_PROPERTY_SEED")) {
    seeds.push_back(std::stoull(only));
  } else {
    for (std::uint64_t seed = 0; seed < count; ++seed) seeds.push_back(seed);
  }
  std::vector<KnownIssue> known = known_issues();
  std::vector<std::uint64_t> failing;
  std::uint64_t placed = 0, waiting = 0;
  for (std::uint64_t seed : seeds) {
    auto [instance, plan] = plan_for(seed);
    placed += plan.placements.size();
    waiting += plan.waiting.size();
    std::vector<std::string> unexpected;
    for (std::string& violation : find_plan_violations(instance.cloud, instance.request, plan)) {
      auto issue = std::find_if(known.begin(), known.end(), [&](const KnownIssue& candidate) {
        return violation.find(candidate.phrase) != std::string::npos;
      });
      if (issue != known.end()) {
        ++issue->seen;
      } else {
        unexpected.push_back(std::move(violation));
      }
    }
    if (unexpected.empty()) continue;
    if (failing.size() < 5) ADD_FAILURE() << what << " seed " << seed << ":" << describe(unexpected);
    failing.push_back(seed);
  }
  std::string listed;
  for (std::size_t i = 0; i < failing.size() && i < 40; ++i) listed += " " + std::to_string(failing[i]);
  EXPECT_TRUE(failing.empty()) << failing.size() << " of " << seeds.size() << " " << what
                               << " seeds fail:" << listed;
  std::cout << what << ": " << seeds.size() << " clouds, " << placed << " VMs placed, " << waiting
            << " waiting\n";
  for (const KnownIssue& issue : known) {
    if (issue.seen > 0)
      std::cout << "  known planner issue seen " << issue.seen << " times: " << issue.description << "\n";
  }
  if (seeds.size() == count) {
    // The random clouds must exercise both outcomes, or the test proves little.
    EXPECT_GT(placed, 3 * count);
    EXPECT_GT(waiting, count / 10);
  }
}

TEST(PlannerProperty, EveryPlanPassesTheIndependentChecker) {
  check_seeds("random", kRandomClouds, [](std::uint64_t seed) {
    testing::RandomInstance instance = testing::random_instance(seed);
    Plan plan = plan_failover(instance.cloud, instance.request);
    return std::pair{std::move(instance), std::move(plan)};
  });
}

TEST(PlannerProperty, TightInstancesPassTheIndependentChecker) {
  check_seeds("tight", kRandomClouds / 3, [](std::uint64_t seed) {
    testing::RandomInstance instance = testing::random_instance(seed, testing::tight_small_options());
    Plan plan = plan_failover(instance.cloud, instance.request);
    return std::pair{std::move(instance), std::move(plan)};
  });
}

TEST(PlannerProperty, IsDeterministic) {
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    testing::RandomInstance instance = testing::random_instance(seed);
    Plan first = plan_failover(instance.cloud, instance.request);
    Plan second = plan_failover(instance.cloud, instance.request);
    ASSERT_EQ(first.placements.size(), second.placements.size()) << "seed " << seed;
    for (std::size_t i = 0; i < first.placements.size(); ++i) {
      EXPECT_EQ(first.placements[i].vm, second.placements[i].vm) << "seed " << seed;
      EXPECT_EQ(first.placements[i].to, second.placements[i].to) << "seed " << seed;
    }
    ASSERT_EQ(first.waiting.size(), second.waiting.size()) << "seed " << seed;
  }
}

// --- hand-made edge cases -------------------------------------------------------------------------------

PlanRequest fail(const model::Cloud& cloud, std::vector<std::string> failed,
                 std::vector<std::string> evacuated = {}) {
  PlanRequest request;
  for (const auto& name : failed) request.failed_hosts.push_back(cloud.find_host(name));
  for (const auto& name : evacuated) request.evacuated_hosts.push_back(cloud.find_host(name));
  return request;
}

std::string target_of(const model::Cloud& cloud, const Plan& plan, const std::string& vm) {
  for (const Placement& placement : plan.placements) {
    if (cloud.vms[placement.vm].name == vm) return cloud.hosts[placement.to].name;
  }
  return "waiting";
}

Plan plan_and_check(const model::Cloud& cloud, const PlanRequest& request) {
  Plan plan = plan_failover(cloud, request);
  auto violations = find_plan_violations(cloud, request, plan);
  EXPECT_THAT(violations, IsEmpty()) << describe(violations);
  return plan;
}

TEST(PlannerEdgeCases, MovesAnAffinityGroupAsOne) {
  // a + b need 12 vCPU together: only h4 has room for both; h2 and h3 have room for one each.
  auto cloud = CloudBuilder()
                   .host({.name = "h1", .cpus = 16})
                   .host({.name = "h2", .cpus = 16})
                   .host({.name = "h3", .cpus = 16})
                   .host({.name = "h4", .cpus = 16})
                   .vm({.name = "a", .host = "h1", .cpus = 6})
                   .vm({.name = "b", .host = "h1", .cpus = 6})
                   .vm({.name = "fill2", .host = "h2", .cpus = 9})
                   .vm({.name = "fill3", .host = "h3", .cpus = 9})
                   .vm({.name = "fill4", .host = "h4", .cpus = 2})
                   .group("pair", GroupKind::affinity, "host", {"a", "b"})
                   .build();
  Plan plan = plan_and_check(cloud, fail(cloud, {"h1"}));
  EXPECT_EQ(target_of(cloud, plan, "a"), "h4");
  EXPECT_EQ(target_of(cloud, plan, "b"), "h4");
}

TEST(PlannerEdgeCases, KeepsTwoMovingAntiAffinityMembersApart) {
  // h2 has the most room and would take both if the group were ignored.
  auto cloud = CloudBuilder()
                   .host({.name = "h1", .cpus = 16})
                   .host({.name = "h2", .cpus = 64})
                   .host({.name = "h3", .cpus = 16})
                   .vm({.name = "a", .host = "h1", .cpus = 4})
                   .vm({.name = "b", .host = "h1", .cpus = 4})
                   .group("apart", GroupKind::anti_affinity, "host", {"a", "b"})
                   .build();
  Plan plan = plan_and_check(cloud, fail(cloud, {"h1"}));
  EXPECT_NE(target_of(cloud, plan, "a"), "waiting");
  EXPECT_NE(target_of(cloud, plan, "b"), "waiting");
  EXPECT_NE(target_of(cloud, plan, "a"), target_of(cloud, plan, "b"));
}

TEST(PlannerEdgeCases, AfterInheritanceLiftsALowVmAboveAHighOne) {
  // Room for one 8-vCPU VM. `database` is low but `frontend` (critical, already running elsewhere) waits for
  // it, so it inherits critical and beats `reporting` (high).
  auto cloud = CloudBuilder()
                   .host({.name = "h1", .cpus = 16})
                   .host({.name = "h2", .cpus = 16})
                   .host({.name = "h3", .cpus = 16})
                   .vm({.name = "database", .host = "h1", .cpus = 8, .priority = Priority::low})
                   .vm({.name = "reporting", .host = "h1", .cpus = 8, .priority = Priority::high})
                   .vm({.name = "frontend",
                        .host = "h2",
                        .cpus = 8,
                        .priority = Priority::critical,
                        .after = {"database"}})
                   .vm({.name = "fill3", .host = "h3", .cpus = 12})
                   .build();
  Plan plan = plan_and_check(cloud, fail(cloud, {"h1"}));
  EXPECT_NE(target_of(cloud, plan, "database"), "waiting");
  EXPECT_EQ(target_of(cloud, plan, "reporting"), "waiting");
  ASSERT_FALSE(plan.placements.empty());
  EXPECT_EQ(plan.placements[0].effective_priority, Priority::critical);
}

TEST(PlannerEdgeCases, UsesReservedHostsOnFailover) {
  auto cloud = CloudBuilder()
                   .host({.name = "h1", .cpus = 16})
                   .host({.name = "h2", .cpus = 16})
                   .host({.name = "spare", .cpus = 16, .reserved = true})
                   .vm({.name = "a", .host = "h1", .cpus = 12})
                   .vm({.name = "fill2", .host = "h2", .cpus = 12})
                   .build();
  Plan plan = plan_and_check(cloud, fail(cloud, {"h1"}));
  EXPECT_EQ(target_of(cloud, plan, "a"), "spare");
}

TEST(PlannerEdgeCases, IgnoresUnprotectedVms) {
  auto cloud = CloudBuilder()
                   .host({.name = "h1", .cpus = 16})
                   .host({.name = "h2", .cpus = 16})
                   .vm({.name = "a", .host = "h1", .cpus = 4})
                   .vm({.name = "scratch", .host = "h1", .cpus = 4, .protect = false})
                   .build();
  Plan plan = plan_and_check(cloud, fail(cloud, {"h1"}));
  ASSERT_EQ(plan.placements.size(), 1u);
  EXPECT_TRUE(plan.waiting.empty());
  EXPECT_EQ(cloud.vms[plan.placements[0].vm].name, "a");
}

// Disabled until the planner counts a drained VM that waits where it still runs (known issue above).
TEST(PlannerEdgeCases, DrainedVmThatWaitsStillBlocksItsRack) {
  // a is drained from h1 but h2 (same rack) has no room for it, and rack r2 has no room either: it keeps
  // running in r1, so b (anti-affinity with a on rack) must not restart on h2 in r1.
  auto cloud = CloudBuilder()
                   .host({.name = "h1", .cpus = 8, .labels = {{"rack", "r1"}}})
                   .host({.name = "h2", .cpus = 8, .labels = {{"rack", "r1"}}})
                   .host({.name = "h3", .cpus = 8, .labels = {{"rack", "r2"}}})
                   .host({.name = "h4", .cpus = 8, .labels = {{"rack", "r2"}}})
                   .vm({.name = "a", .host = "h1", .cpus = 8})
                   .vm({.name = "b", .host = "h3", .cpus = 1})
                   .vm({.name = "half", .host = "h2", .cpus = 4})
                   .vm({.name = "full", .host = "h4", .cpus = 8})
                   .group("racks", GroupKind::anti_affinity, "rack", {"a", "b"})
                   .build();
  Plan plan = plan_and_check(cloud, fail(cloud, {"h3"}, {"h1"}));
  EXPECT_EQ(target_of(cloud, plan, "a"), "waiting");
  EXPECT_EQ(target_of(cloud, plan, "b"), "waiting");
}

// --- minimal reproducers of the known issues above: enable each once the planner fixes it
// -------------------

TEST(PlannerKnownIssues, ListsADependencyBeforeItsDependent) {
  // `frontend` (high, too big to place) waits for `app`, which waits for `database`: both low, lifted to
  // high. The plan lists `app` first, but it must start after `database` (minimised from tight seed 7).
  auto cloud =
      CloudBuilder()
          .host({.name = "h1", .cpus = 32, .memory_mib = 256 * 1024})
          .host({.name = "h2", .cpus = 16, .memory_mib = 32 * 1024})
          .vm({.name = "database", .host = "h1", .cpus = 4, .memory_mib = 3840, .priority = Priority::low})
          .vm({.name = "app",
               .host = "h1",
               .cpus = 1,
               .memory_mib = 15616,
               .priority = Priority::low,
               .after = {"database"}})
          .vm({.name = "frontend",
               .host = "h1",
               .cpus = 1,
               .memory_mib = 65536,
               .priority = Priority::high,
               .after = {"app"}})
          .vm({.name = "batch", .host = "h1", .cpus = 12, .memory_mib = 7680, .priority = Priority::low})
          .build();
  plan_and_check(cloud, fail(cloud, {"h1"}));
}

TEST(PlannerKnownIssues, StartsAfterADrainedVmThatWaitsButRuns) {
  // `database` is drained from h1 but fits nowhere, so it keeps running on h1: `app` can start on h3.
  auto cloud = CloudBuilder()
                   .host({.name = "h1", .cpus = 16})
                   .host({.name = "h2", .cpus = 16})
                   .host({.name = "h3", .cpus = 8})
                   .vm({.name = "database", .host = "h1", .cpus = 16})
                   .vm({.name = "app", .host = "h2", .cpus = 1, .after = {"database"}})
                   .build();
  Plan plan = plan_and_check(cloud, fail(cloud, {"h2"}, {"h1"}));
  EXPECT_EQ(target_of(cloud, plan, "app"), "h3");
}

TEST(PlannerKnownIssues, LeavesALowAffinityMemberBehindForAHigherVm) {
  // Room for 8 vCPU. The group {a critical, b low} moves as one and takes it all; c (high) waits, though a +
  // c fit and the group binds only members that run.
  auto cloud = CloudBuilder()
                   .host({.name = "h1", .cpus = 16})
                   .host({.name = "h2", .cpus = 8})
                   .vm({.name = "a", .host = "h1", .cpus = 4, .priority = Priority::critical})
                   .vm({.name = "b", .host = "h1", .cpus = 4, .priority = Priority::low})
                   .vm({.name = "c", .host = "h1", .cpus = 4, .priority = Priority::high})
                   .group("pair", GroupKind::affinity, "host", {"a", "b"})
                   .build();
  Plan plan = plan_and_check(cloud, fail(cloud, {"h1"}));
  EXPECT_EQ(target_of(cloud, plan, "c"), "h2");
}

TEST(PlannerKnownIssues, PlacesTheAffinityMembersThatFit) {
  // The group {a critical 4 vCPU, b low 12 vCPU} does not fit on one host, but a alone does: it must not
  // wait.
  auto cloud = CloudBuilder()
                   .host({.name = "h1", .cpus = 16})
                   .host({.name = "h2", .cpus = 8})
                   .vm({.name = "a", .host = "h1", .cpus = 4, .priority = Priority::critical})
                   .vm({.name = "b", .host = "h1", .cpus = 12, .priority = Priority::low})
                   .group("pair", GroupKind::affinity, "host", {"a", "b"})
                   .build();
  Plan plan = plan_and_check(cloud, fail(cloud, {"h1"}));
  EXPECT_EQ(target_of(cloud, plan, "a"), "h2");
}

TEST(PlannerKnownIssues, GivesALargeVmsRoomToTwoOfEqualWeight) {
  // The spare h2 has 10 vCPU free. `large` (6) goes first and takes it; `small` (4, anti-affinity with
  // `large`) and its dependant `dependant` (4) then wait, though small + dependant fit and weigh twice as
  // much (minimised from tight seed 58 without affinity: the optimum needs the two-step exchange).
  auto cloud = CloudBuilder()
                   .host({.name = "h1", .cpus = 16})
                   .host({.name = "h2", .cpus = 16})
                   .host({.name = "h3", .cpus = 16})
                   .vm({.name = "large", .host = "h1", .cpus = 6, .priority = Priority::critical})
                   .vm({.name = "small", .host = "h1", .cpus = 4, .priority = Priority::medium})
                   .vm({.name = "dependant",
                        .host = "h1",
                        .cpus = 4,
                        .priority = Priority::critical,
                        .after = {"small"}})
                   .vm({.name = "fill2", .host = "h2", .cpus = 6})
                   .vm({.name = "fill3", .host = "h3", .cpus = 16})
                   .group("apart", GroupKind::anti_affinity, "host", {"large", "small"})
                   .build();
  Plan plan = plan_and_check(cloud, fail(cloud, {"h1"}));
  EXPECT_EQ(target_of(cloud, plan, "small"), "h2");
  EXPECT_EQ(target_of(cloud, plan, "dependant"), "h2");
  EXPECT_EQ(target_of(cloud, plan, "large"), "waiting");
  EXPECT_DOUBLE_EQ(placed_priority_weight(cloud, plan), 2000.0);
}

TEST(PlannerKnownIssues, AnchorsAnAffinityGroupWhereItsPartnersCanGo) {
  // `anchor` and `partner` (affinity on host) can only share h3 (networks). `anchor` went first to the host
  // with room for both that it liked best (h2, least loaded; h5 for best fit), where `partner` cannot run;
  // the repair then moved `partner` to h4 (h6), where `anchor` cannot run, so `partner` waited (minimised
  // from tight seed 110).
  auto cloud = CloudBuilder()
                   .host({.name = "h1", .cpus = 16, .networks = {"net-a", "net-p"}})
                   .host({.name = "h2", .cpus = 32, .networks = {"net-a"}})
                   .host({.name = "h3", .cpus = 16, .networks = {"net-a", "net-p"}})
                   .host({.name = "h4", .cpus = 32, .networks = {"net-p"}})
                   .host({.name = "h5", .cpus = 32, .networks = {"net-a"}})
                   .host({.name = "h6", .cpus = 32, .networks = {"net-p"}})
                   .vm({.name = "anchor",
                        .host = "h1",
                        .cpus = 1,
                        .priority = Priority::critical,
                        .networks = {"net-a"}})
                   .vm({.name = "partner",
                        .host = "h1",
                        .cpus = 4,
                        .priority = Priority::critical,
                        .networks = {"net-p"},
                        .after = {"anchor"}})
                   .vm({.name = "fill3", .host = "h3", .cpus = 11})
                   .vm({.name = "fill5", .host = "h5", .cpus = 26})
                   .vm({.name = "fill6", .host = "h6", .cpus = 26})
                   .group("together", GroupKind::affinity, "host", {"anchor", "partner"})
                   .build();
  Plan plan = plan_and_check(cloud, fail(cloud, {"h1"}));
  EXPECT_EQ(target_of(cloud, plan, "anchor"), "h3");
  EXPECT_EQ(target_of(cloud, plan, "partner"), "h3");
}

TEST(PlannerKnownIssues, PlacesTwoSmallVmsOfAPriorityRatherThanOneLarge) {
  // h2 has 9 vCPU free. Largest first places `large` (8) and `tiny1` (1); `tiny2` (1) and `medium1`,
  // `medium2` wait. Smallest first places tiny1 + tiny2 and the two medium VMs: two high either way, plus 20
  // (minimised from tight seed 31).
  auto cloud = CloudBuilder()
                   .host({.name = "h1", .cpus = 32})
                   .host({.name = "h2", .cpus = 16})
                   .vm({.name = "large", .host = "h1", .cpus = 8, .priority = Priority::high})
                   .vm({.name = "tiny1", .host = "h1", .cpus = 1, .priority = Priority::high})
                   .vm({.name = "tiny2", .host = "h1", .cpus = 1, .priority = Priority::high})
                   .vm({.name = "medium1", .host = "h1", .cpus = 2, .priority = Priority::medium})
                   .vm({.name = "medium2", .host = "h1", .cpus = 3, .priority = Priority::medium})
                   .vm({.name = "fill2", .host = "h2", .cpus = 7})
                   .build();
  Plan plan = plan_and_check(cloud, fail(cloud, {"h1"}));
  EXPECT_EQ(target_of(cloud, plan, "large"), "waiting");
  EXPECT_DOUBLE_EQ(placed_priority_weight(cloud, plan), 220.0);
}

}  // namespace
}  // namespace revive::plan
