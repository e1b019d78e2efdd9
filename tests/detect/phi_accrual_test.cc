#include "detect/phi_accrual.h"

#include <cmath>

#include <gtest/gtest.h>

namespace revive::detect {
namespace {

TEST(PhiOfZ, IsMinusLog10OfTheNormalUpperTail) {
  EXPECT_NEAR(phi_of_z(0.0), -std::log10(0.5), 1e-12);
  EXPECT_NEAR(phi_of_z(1.2815515655446004), 1.0, 1e-9);  // 10% tail
  EXPECT_NEAR(phi_of_z(5.612001244174789), 8.0, 1e-6);   // 1e-8 tail
  // Far in the tail the asymptotic form takes over smoothly and keeps growing.
  EXPECT_LT(phi_of_z(29.9), phi_of_z(30.1));
  EXPECT_NEAR(phi_of_z(29.999), phi_of_z(30.001), 0.05);
  EXPECT_EQ(phi_of_z(1e6), PhiAccrual::kMaxPhi);
}

TEST(ZOfPhi, InvertsPhiOfZ) {
  for (double phi : {0.5, 1.0, 3.0, 5.0, 8.0, 12.0, 50.0}) EXPECT_NEAR(phi_of_z(z_of_phi(phi)), phi, 1e-6);
}

TEST(PhiAccrual, GrowsWithSilenceAndDropsOnHeartbeat) {
  PhiAccrual detector;
  EXPECT_EQ(detector.phi(100.0), 0.0);  // nothing heard yet: nothing to suspect
  for (int i = 0; i <= 50; ++i) detector.heartbeat(i * 1.0);
  EXPECT_NEAR(detector.mean_interval_s(), 1.0, 1e-9);
  EXPECT_LT(detector.phi(51.0), 0.5);
  double earlier = detector.phi(52.5);
  double later = detector.phi(53.5);
  EXPECT_LT(earlier, later);
  EXPECT_GT(detector.phi(60.0), 8.0);
  detector.heartbeat(60.0);
  EXPECT_LT(detector.phi(60.5), 0.5);
}

TEST(PhiAccrual, TimeOfPhiMatchesPhi) {
  PhiAccrual detector;
  double at = 0.0;
  for (int i = 0; i < 100; ++i) {
    at += (i % 3 == 0) ? 1.2 : 0.9;
    detector.heartbeat(at);
  }
  for (double threshold : {1.0, 5.0, 8.0}) {
    double crossing = detector.time_of_phi(threshold);
    EXPECT_GT(crossing, at);
    EXPECT_NEAR(detector.phi(crossing), threshold, 1e-6);
    EXPECT_LT(detector.phi(crossing - 1e-3), threshold);
  }
}

TEST(PhiAccrual, IgnoresOutOfOrderAndResets) {
  PhiAccrual detector;
  detector.heartbeat(10.0);
  detector.heartbeat(9.0);
  EXPECT_EQ(detector.last_heartbeat_s(), 10.0);
  detector.reset();
  EXPECT_FALSE(detector.has_heartbeat());
}

TEST(PhiAccrual, WindowForgetsOldIntervals) {
  PhiAccrual detector(
      {.expected_interval_s = 1.0, .acceptable_pause_s = 0.0, .min_std_dev_s = 0.01, .window = 10});
  double at = 0.0;
  for (int i = 0; i < 20; ++i) detector.heartbeat(at += 5.0);
  for (int i = 0; i < 10; ++i) detector.heartbeat(at += 1.0);
  EXPECT_NEAR(detector.mean_interval_s(), 1.0, 1e-9);
}

}  // namespace
}  // namespace revive::detect
