// Step durations: a pure function of (seed, step, subject, disk, attempt), lognormal around the median.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "sim/latency.h"

namespace revive::sim {
namespace {

TEST(Latency, SameKeySameDurationDifferentKeysDiffer) {
  Latency start{60.0, 0.4};
  double a = draw_duration(start, 42, env::StepKind::vm_start, 7, model::kNoIndex, 0);
  EXPECT_DOUBLE_EQ(a, draw_duration(start, 42, env::StepKind::vm_start, 7, model::kNoIndex, 0));
  EXPECT_NE(a, draw_duration(start, 43, env::StepKind::vm_start, 7, model::kNoIndex, 0));
  EXPECT_NE(a, draw_duration(start, 42, env::StepKind::vm_start, 8, model::kNoIndex, 0));
  EXPECT_NE(a, draw_duration(start, 42, env::StepKind::vm_start, 7, model::kNoIndex, 1));
  EXPECT_NE(a, draw_duration(start, 42, env::StepKind::disk_map, 7, model::kNoIndex, 0));
}

TEST(Latency, FixedLatencyIsExact) {
  EXPECT_DOUBLE_EQ(draw_duration(Latency{5.0, 0.0}, 1, env::StepKind::fence, 3, model::kNoIndex, 9), 5.0);
}

TEST(Latency, LognormalMedianAndSpreadMatch) {
  Latency map{4.0, 0.3};
  std::vector<double> logs;
  for (model::Index vm = 0; vm < 20000; ++vm) {
    logs.push_back(std::log(draw_duration(map, 7, env::StepKind::disk_map, vm, vm * 3, 0)));
  }
  std::sort(logs.begin(), logs.end());
  double median = std::exp(logs[logs.size() / 2]);
  double mean = 0, square = 0;
  for (double x : logs) mean += x;
  mean /= static_cast<double>(logs.size());
  for (double x : logs) square += (x - mean) * (x - mean);
  double sigma = std::sqrt(square / static_cast<double>(logs.size()));
  EXPECT_NEAR(median, 4.0, 0.05);
  EXPECT_NEAR(sigma, 0.3, 0.01);
}

TEST(Latency, UniformVariatesStayInRange) {
  for (std::uint64_t i = 0; i < 1000; ++i) {
    double u = uniform_variate(1, i, 2, 3);
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
  }
}

}  // namespace
}  // namespace revive::sim
