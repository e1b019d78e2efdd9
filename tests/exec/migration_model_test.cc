// The live-migration model: single migrations against hand-computed pre-copy rounds, and the fluid simulation
// of concurrent migrations (bandwidth shared per NIC, setup not counted, shares changing as others end).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>

#include "exec/migration_model.h"

namespace revive::exec {
namespace {

constexpr double kTenGbps = 10 * kMibPerSecondPerGbps;

TEST(MigrationModel, GbpsConversion) {
  EXPECT_NEAR(kMibPerSecondPerGbps, 119.2, 0.01);
}

TEST(MigrationModel, IdleVmNeedsOneRoundAndNoDowntime) {
  LiveMigrationParameters parameters;
  auto estimate = estimate_migration(8192, 0, kTenGbps, parameters);
  EXPECT_TRUE(estimate.converges);
  EXPECT_EQ(estimate.rounds, 1u);
  EXPECT_DOUBLE_EQ(estimate.downtime_s, 0.0);
  EXPECT_NEAR(estimate.total_s, 2.0 + 8192 / kTenGbps, 1e-9);
  EXPECT_NEAR(estimate.transferred_mib, 8192, 1e-9);
}

TEST(MigrationModel, PreCopyRoundsShrinkGeometrically) {
  // 8 GiB dirtying 100 MiB/s over 1000 MiB/s: rounds of 8192, 819.2, 81.92, 8.192 MiB... stop-and-copy once
  // the remainder fits 300 ms (300 MiB): after round 2 the remainder is 81.92 MiB.
  LiveMigrationParameters parameters;
  auto estimate = estimate_migration(8192, 100, 1000, parameters);
  EXPECT_TRUE(estimate.converges);
  EXPECT_EQ(estimate.rounds, 2u);
  EXPECT_NEAR(estimate.downtime_s, 0.08192, 1e-9);
  EXPECT_NEAR(estimate.precopy_s, 8.192 + 0.8192, 1e-9);
  EXPECT_NEAR(estimate.total_s, 2.0 + 8.192 + 0.8192 + 0.08192, 1e-9);
  EXPECT_NEAR(estimate.transferred_mib, 8192 + 819.2 + 81.92, 1e-6);
}

TEST(MigrationModel, TighterDowntimeNeedsMoreRounds) {
  LiveMigrationParameters parameters;
  parameters.downtime_ms = 10;
  auto estimate = estimate_migration(8192, 100, 1000, parameters);
  EXPECT_TRUE(estimate.converges);
  EXPECT_EQ(estimate.rounds, 3u);  // remainders 819.2, 81.92, then 8.192 MiB fits 10 ms
  EXPECT_LE(estimate.downtime_s, 0.010 + 1e-12);
}

TEST(MigrationModel, DirtyRateAtBandwidthDoesNotConverge) {
  LiveMigrationParameters parameters;
  auto estimate = estimate_migration(16384, 1000, 1000, parameters);
  EXPECT_FALSE(estimate.converges);
  EXPECT_EQ(estimate.rounds, parameters.max_stalls);  // every round after the first stalls
  EXPECT_DOUBLE_EQ(estimate.downtime_s, 0.0);
}

TEST(MigrationModel, SlowShrinkHitsTheRoundLimit) {
  LiveMigrationParameters parameters;
  parameters.max_rounds = 5;
  auto estimate = estimate_migration(16384, 900, 1000, parameters);  // shrinks by 10% a round: no stall
  EXPECT_FALSE(estimate.converges);
  EXPECT_EQ(estimate.rounds, 5u);
}

TEST(MigrationModel, ConvergenceLimitRatioSeparatesConvergingFromNot) {
  LiveMigrationParameters parameters;
  double ratio = convergence_limit_ratio(32768, 1000, parameters);
  EXPECT_GT(ratio, 0.5);
  EXPECT_LT(ratio, 1.0);
  EXPECT_TRUE(estimate_migration(32768, (ratio - 0.01) * 1000, 1000, parameters).converges);
  EXPECT_FALSE(estimate_migration(32768, (ratio + 0.01) * 1000, 1000, parameters).converges);
}

TEST(MigrationFlows, OneFlowMatchesTheEstimate) {
  LiveMigrationParameters parameters;
  MigrationFlows flows({kTenGbps, kTenGbps, kTenGbps}, parameters);
  flows.start({7, 0, 2, 32768, 50});
  auto outcomes = flows.run_to_end();
  ASSERT_EQ(outcomes.size(), 1u);
  auto estimate = estimate_migration(32768, 50, kTenGbps, parameters);
  EXPECT_TRUE(outcomes[0].ok);
  EXPECT_EQ(outcomes[0].spec.vm, 7u);
  EXPECT_NEAR(outcomes[0].end_s, estimate.total_s, 1e-9);
  EXPECT_EQ(outcomes[0].rounds, estimate.rounds);
  EXPECT_NEAR(outcomes[0].downtime_s, estimate.downtime_s, 1e-9);
  ASSERT_EQ(outcomes[0].round_ends_s.size(), outcomes[0].rounds);
  EXPECT_NEAR(outcomes[0].round_ends_s.front(), 2.0 + 32768 / kTenGbps, 1e-9);
  EXPECT_NEAR(outcomes[0].round_ends_s.back() + outcomes[0].downtime_s, outcomes[0].end_s, 1e-9);
}

TEST(MigrationFlows, TwoFlowsFromOneSourceShareItsNic) {
  LiveMigrationParameters parameters;
  parameters.setup_s = 0;
  MigrationFlows flows({1000, 1000, 1000}, parameters);
  auto a = flows.start({0, 0, 1, 4000, 0});
  auto b = flows.start({1, 0, 2, 4000, 0});
  std::vector<FlowOutcome> finished;
  flows.advance_to(0.0, finished);  // setups of 0 s end now
  EXPECT_DOUBLE_EQ(flows.share_mib_s(a), 500);
  EXPECT_DOUBLE_EQ(flows.share_mib_s(b), 500);
  EXPECT_EQ(flows.transferring_on(0), 2u);
  EXPECT_EQ(flows.transferring_on(1), 1u);
  auto outcomes = flows.run_to_end();
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_NEAR(outcomes[0].end_s, 8.0, 1e-9);
  EXPECT_NEAR(outcomes[1].end_s, 8.0, 1e-9);
}

TEST(MigrationFlows, ShareGrowsWhenAnotherFinishes) {
  LiveMigrationParameters parameters;
  parameters.setup_s = 0;
  MigrationFlows flows({1000, 1000, 1000}, parameters);
  flows.start({0, 0, 1, 1000, 0});  // ends at 2 s (500 MiB/s)
  flows.start({1, 0, 2, 3000, 0});  // 1000 MiB by 2 s, then 2000 MiB alone at 1000 MiB/s: ends at 4 s
  auto outcomes = flows.run_to_end();
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_NEAR(outcomes[0].end_s, 2.0, 1e-9);
  EXPECT_NEAR(outcomes[1].end_s, 4.0, 1e-9);
}

TEST(MigrationFlows, TheSlowerSideDecides) {
  LiveMigrationParameters parameters;
  parameters.setup_s = 0;
  MigrationFlows flows({1000, 250, 1000}, parameters);
  auto a = flows.start({0, 0, 1, 1000, 0});
  std::vector<FlowOutcome> finished;
  flows.advance_to(0.0, finished);
  EXPECT_DOUBLE_EQ(flows.share_mib_s(a), 250);
}

TEST(MigrationFlows, SetupDoesNotUseTheNic) {
  LiveMigrationParameters parameters;
  parameters.setup_s = 5;
  MigrationFlows flows({1000, 1000, 1000}, parameters);
  auto a = flows.start({0, 0, 1, 10000, 0});
  std::vector<FlowOutcome> finished;
  flows.advance_to(5.0, finished);
  auto b = flows.start({1, 0, 2, 1000, 0});  // in setup until 10 s: a keeps the whole NIC
  flows.advance_to(9.0, finished);
  EXPECT_DOUBLE_EQ(flows.share_mib_s(a), 1000);
  EXPECT_DOUBLE_EQ(flows.share_mib_s(b), 0);
  EXPECT_EQ(flows.transferring_on(0), 1u);
  flows.advance_to(10.5, finished);
  EXPECT_DOUBLE_EQ(flows.share_mib_s(a), 500);
}

TEST(MigrationFlows, SharingCanPreventConvergence) {
  LiveMigrationParameters parameters;
  parameters.setup_s = 0;
  // Alone, 600 MiB/s of dirtying against 1000 MiB/s converges; with the NIC split four ways it cannot.
  EXPECT_TRUE(estimate_migration(8192, 600, 1000, parameters).converges);
  MigrationFlows flows({1000, 1000, 1000, 1000, 1000}, parameters);
  for (model::VmIndex vm = 0; vm < 4; ++vm) flows.start({vm, 0, vm + 1, 8192, 600});
  auto outcomes = flows.run_to_end();
  ASSERT_EQ(outcomes.size(), 4u);
  for (const auto& outcome : outcomes) {
    EXPECT_FALSE(outcome.ok);
    EXPECT_NE(outcome.error.find("did not converge"), std::string::npos) << outcome.error;
  }
}

TEST(MigrationFlows, CancelFreesTheShare) {
  LiveMigrationParameters parameters;
  parameters.setup_s = 0;
  MigrationFlows flows({1000, 1000, 1000}, parameters);
  auto a = flows.start({0, 0, 1, 4000, 0});
  auto b = flows.start({1, 0, 2, 4000, 0});
  std::vector<FlowOutcome> finished;
  flows.advance_to(1.0, finished);
  auto outcome = flows.cancel(b);
  EXPECT_TRUE(outcome.cancelled);
  EXPECT_FALSE(outcome.ok);
  EXPECT_EQ(flows.transferring_on(2), 0u);
  EXPECT_DOUBLE_EQ(flows.share_mib_s(a), 1000);
  auto outcomes = flows.run_to_end();
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_NEAR(outcomes[0].end_s, 1.0 + 3500.0 / 1000.0, 1e-9);
}

// Random concurrent migrations: at every step no NIC carries more than its bandwidth, every migration ends
// exactly once, and two runs give identical outcomes.
TEST(MigrationFlows, RandomLoadNeverExceedsANicAndIsDeterministic) {
  auto run = [](std::vector<FlowOutcome>& all) {
    std::mt19937_64 random(42);
    std::vector<double> nic = {1192, 2980, 1192, 596, 1192, 1192};
    LiveMigrationParameters parameters;
    MigrationFlows flows(nic, parameters);
    double time = 0;
    std::uniform_int_distribution<int> host(0, 5);
    std::uniform_real_distribution<double> memory(1024, 65536), dirty(0, 200), gap(0, 10);
    int started = 0;
    while (started < 200 || flows.active() > 0) {
      double next = started < 200 ? time + gap(random) : flows.next_event_s();
      flows.advance_to(next, all);
      time = next;
      std::map<model::HostIndex, double> used;
      for (const auto& view : flows.flows()) {
        used[view.spec.from] += view.share_mib_s;
        used[view.spec.to] += view.share_mib_s;
      }
      for (auto [h, total] : used) EXPECT_LE(total, nic[h] * (1 + 1e-9));
      if (started < 200) {
        auto from = static_cast<model::HostIndex>(host(random));
        auto to = static_cast<model::HostIndex>((from + 1 + host(random) % 5) % 6);
        flows.start({static_cast<model::VmIndex>(started), from, to, memory(random), dirty(random)});
        ++started;
      }
    }
  };
  std::vector<FlowOutcome> first, second;
  run(first);
  run(second);
  ASSERT_EQ(first.size(), 200u);
  ASSERT_EQ(second.size(), 200u);
  std::vector<int> seen(200, 0);
  for (std::size_t i = 0; i < first.size(); ++i) {
    ++seen[first[i].spec.vm];
    EXPECT_EQ(first[i].spec.vm, second[i].spec.vm);
    EXPECT_EQ(first[i].end_s, second[i].end_s);
    EXPECT_GE(first[i].end_s, first[i].start_s);
    if (first[i].ok) {
      EXPECT_GE(first[i].transferred_mib, first[i].spec.memory_mib * (1 - 1e-9));
    }
  }
  for (int count : seen) EXPECT_EQ(count, 1);
}

}  // namespace
}  // namespace revive::exec
