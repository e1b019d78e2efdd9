#include "exec/recovery_time.h"

#include <gtest/gtest.h>

#include "model/generator.h"

namespace revive::exec {
namespace {

// A generated cloud of 10 hosts and 60 VMs (1-8 disks each).
model::Cloud ten_hosts() {
  model::GeneratorOptions generator;
  generator.hosts = 10;
  generator.vms = 60;
  generator.seed = 3;
  return model::generate_cloud(generator);
}

// A history in which every VM starts in 600 s, exactly.
class SlowStarts final : public env::DurationEstimator {
 public:
  double expected_s(env::StepKind kind, model::Index, model::DiskIndex) const override {
    return kind == env::StepKind::vm_start ? 600.0 : 1.0;
  }
  std::optional<double> noise_spread(env::StepKind) const override { return 0.0; }
};

// With a step-duration history the prediction draws around what it knows of each VM, not the latency model.
TEST(RecoveryTime, AHistoryOfTheVmsReplacesTheLatencyModelsMediansAndSpreads) {
  auto cloud = ten_hosts();
  RecoveryTimeOptions options;
  options.samples = 8;
  auto plain = predict_recovery_times(cloud, options);
  SlowStarts history;
  options.history = &history;
  auto known = predict_recovery_times(cloud, options);
  ASSERT_FALSE(plain.failures.empty());
  ASSERT_EQ(plain.failures.size(), known.failures.size());
  int compared = 0;
  for (std::size_t f = 0; f < plain.failures.size(); ++f) {
    for (int tier = 0; tier < model::kPriorityCount; ++tier) {
      const auto& a = plain.failures[f].tiers[tier];
      const auto& b = known.failures[f].tiers[tier];
      if (a.vms == a.waiting) continue;
      EXPECT_LT(a.p90_s, 600.0);
      EXPECT_GE(b.p50_s, 600.0);
      EXPECT_DOUBLE_EQ(b.p50_s, b.p90_s);  // no noise: every run alike but for detection
      ++compared;
    }
  }
  EXPECT_GT(compared, 0);
}

// Without a history a VM's habit is unknown but shared by its disks: with repeatability 1 a VM's disks map
// alike (one draw per VM), with 0 each disk draws alone, so the slowest of several disks is later.
TEST(RecoveryTime, WithoutHistoryTheDisksOfOneVmShareTheirHabit) {
  auto cloud = ten_hosts();
  RecoveryTimeOptions options;
  options.samples = 32;
  options.latencies.fence = {1.0, 0.0};
  options.latencies.disk_unmap = {1.0, 0.0};
  options.latencies.net_config = {1.0, 0.0};
  options.latencies.vm_start = {1.0, 0.0};
  options.latencies.disk_map = {20.0, 1.5};  // the disks decide
  auto sum_of_medians = [&](double repeatability) {
    options.latencies.repeatability = repeatability;
    double sum = 0.0;
    for (const auto& failure : predict_recovery_times(cloud, options).failures) {
      for (const auto& tier : failure.tiers) sum += tier.p50_s;
    }
    return sum;
  };
  double shared = sum_of_medians(1.0), independent = sum_of_medians(0.0);
  EXPECT_GT(shared, 0.0);
  EXPECT_GT(independent, 1.2 * shared);
}

}  // namespace
}  // namespace revive::exec
