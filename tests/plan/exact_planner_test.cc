// The exact (CBC) planner: its plans pass the independent checker, it finds what a greedy order misses, and
// its placed priority weight bounds the heuristic planner's from above.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "plan/exact_planner.h"
#include "plan/plan_checker.h"
#include "plan/planner.h"
#include "plan/support/cloud_builder.h"
#include "plan/support/random_cloud.h"

namespace revive::plan {
namespace {

using model::GroupKind;
using model::Priority;
using testing::CloudBuilder;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr double kTimeLimitS = 30.0;

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

std::string reason_of(const model::Cloud& cloud, const Plan& plan, const std::string& vm) {
  for (const Waiting& waiting : plan.waiting) {
    if (cloud.vms[waiting.vm].name == vm) return waiting.reason;
  }
  return "placed";
}

Plan exact_and_check(const model::Cloud& cloud, const PlanRequest& request) {
  Plan plan = plan_exact(cloud, request, kTimeLimitS);
  EXPECT_THAT(find_plan_violations(cloud, request, plan), IsEmpty());
  return plan;
}

TEST(ExactPlanner, PacksWhatLargestFirstWouldNot) {
  // 10 vCPU free on each of two hosts, VMs of 6, 5, 5, 4: first-fit largest-first strands one (6+... then
  // 5+5 or 5+4); the optimum places all four as 6+4 and 5+5.
  auto cloud = CloudBuilder()
                   .host({.name = "h1", .cpus = 32})
                   .host({.name = "h2", .cpus = 10})
                   .host({.name = "h3", .cpus = 10})
                   .vm({.name = "a", .host = "h1", .cpus = 6})
                   .vm({.name = "b", .host = "h1", .cpus = 5})
                   .vm({.name = "c", .host = "h1", .cpus = 5})
                   .vm({.name = "d", .host = "h1", .cpus = 4})
                   .build();
  Plan plan = exact_and_check(cloud, fail(cloud, {"h1"}));
  EXPECT_EQ(plan.placements.size(), 4u);
  EXPECT_TRUE(plan.waiting.empty());
}

TEST(ExactPlanner, PrefersOneCriticalVmOverManyLowOnes) {
  auto cloud = CloudBuilder()
                   .host({.name = "h1", .cpus = 32})
                   .host({.name = "h2", .cpus = 8})
                   .vm({.name = "critical", .host = "h1", .cpus = 8, .priority = Priority::critical})
                   .vm({.name = "low1", .host = "h1", .cpus = 2, .priority = Priority::low})
                   .vm({.name = "low2", .host = "h1", .cpus = 2, .priority = Priority::low})
                   .vm({.name = "low3", .host = "h1", .cpus = 2, .priority = Priority::low})
                   .vm({.name = "low4", .host = "h1", .cpus = 2, .priority = Priority::low})
                   .build();
  Plan plan = exact_and_check(cloud, fail(cloud, {"h1"}));
  EXPECT_EQ(target_of(cloud, plan, "critical"), "h2");
  EXPECT_THAT(reason_of(cloud, plan, "low1"),
              HasSubstr("capacity taken by higher-weight VMs in the optimum"));
}

TEST(ExactPlanner, HonoursGroupsAcrossMovingAndStayingVms) {
  auto cloud = CloudBuilder()
                   .host({.name = "h1", .cpus = 16, .labels = {{"rack", "r1"}}})
                   .host({.name = "h2", .cpus = 16, .labels = {{"rack", "r1"}}})
                   .host({.name = "h3", .cpus = 16, .labels = {{"rack", "r2"}}})
                   .host({.name = "h4", .cpus = 16, .labels = {{"rack", "r2"}}})
                   .vm({.name = "a", .host = "h1", .cpus = 4})
                   .vm({.name = "b", .host = "h1", .cpus = 4})
                   .vm({.name = "c", .host = "h1", .cpus = 4})
                   .vm({.name = "d", .host = "h1", .cpus = 4})
                   .vm({.name = "staying", .host = "h3", .cpus = 1})
                   .group("apart", GroupKind::anti_affinity, "host", {"a", "b"})
                   .group("together", GroupKind::affinity, "host", {"c", "d"})
                   .group("not-with-staying", GroupKind::anti_affinity, "rack", {"a", "staying"})
                   .build();
  Plan plan = exact_and_check(cloud, fail(cloud, {"h1"}));
  EXPECT_EQ(plan.placements.size(), 4u);
  EXPECT_EQ(target_of(cloud, plan, "a"), "h2");  // r2 holds `staying`
  EXPECT_NE(target_of(cloud, plan, "b"), "h2");
  EXPECT_EQ(target_of(cloud, plan, "c"), target_of(cloud, plan, "d"));
}

TEST(ExactPlanner, ExplainsWhyAVmHasNoHost) {
  auto cloud = CloudBuilder()
                   .host({.name = "h1", .cpus = 16, .networks = {"prod"}})
                   .host({.name = "h2", .cpus = 16})
                   .host({.name = "arm", .cpus = 16, .arch = "aarch64", .networks = {"prod"}})
                   .vm({.name = "a", .host = "h1", .cpus = 4, .networks = {"prod"}})
                   .build();
  Plan plan = exact_and_check(cloud, fail(cloud, {"h1"}));
  EXPECT_EQ(reason_of(cloud, plan, "a"),
            "no feasible host: 1 failed, evacuated or excluded; 1 not on network prod; 1 not x86_64");
}

TEST(ExactPlanner, PlacesADependentOnlyWithItsDependency) {
  auto cloud =
      CloudBuilder()
          .host({.name = "h1", .cpus = 16})
          .host({.name = "h2", .cpus = 8})
          .vm({.name = "database", .host = "h1", .cpus = 12, .priority = Priority::low})
          .vm({.name = "app", .host = "h1", .cpus = 2, .priority = Priority::low, .after = {"database"}})
          .build();
  Plan plan = exact_and_check(cloud, fail(cloud, {"h1"}));
  EXPECT_EQ(reason_of(cloud, plan, "app"), "waits for database (after), which is not placed");
}

TEST(ExactPlanner, ThrowsOnIndexesOutOfRange) {
  auto cloud = CloudBuilder().host({.name = "h1"}).build();
  PlanRequest request;
  request.failed_hosts = {7};
  EXPECT_THROW(plan_exact(cloud, request, kTimeLimitS), std::invalid_argument);
}

// The optimum is an upper bound: on small tight random instances the exact plan passes the checker and the
// heuristic never places more priority weight.
TEST(ExactPlanner, BoundsTheHeuristicOnSmallRandomInstances) {
  for (std::uint64_t seed = 0; seed < 30; ++seed) {
    SCOPED_TRACE("tight seed " + std::to_string(seed));
    auto instance = testing::random_instance(seed, testing::tight_small_options());
    Plan exact = plan_exact(instance.cloud, instance.request, kTimeLimitS);
    EXPECT_THAT(find_plan_violations(instance.cloud, instance.request, exact), IsEmpty());
    Plan heuristic = plan_failover(instance.cloud, instance.request);
    EXPECT_LE(placed_priority_weight(instance.cloud, heuristic),
              placed_priority_weight(instance.cloud, exact) + 1e-6);
  }
}

}  // namespace
}  // namespace revive::plan
