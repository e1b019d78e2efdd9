#include "detect/phi_accrual.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

namespace revive::detect {

double phi_of_z(double z) {
  // Upper tail Q(z) = erfc(z / sqrt 2) / 2. erfc underflows past z ~ 37; use the asymptotic expansion there.
  if (z < 30.0) {
    double tail = 0.5 * std::erfc(z / std::numbers::sqrt2);
    if (tail <= 0.0) return PhiAccrual::kMaxPhi;
    return std::min(PhiAccrual::kMaxPhi, -std::log10(tail));
  }
  // ln Q(z) ~ -z^2/2 - ln(z sqrt(2 pi)) - ln(1 + 1/z^2)... first two terms are plenty here.
  double ln_tail = -0.5 * z * z - std::log(z * std::sqrt(2.0 * std::numbers::pi));
  return std::min(PhiAccrual::kMaxPhi, -ln_tail / std::numbers::ln10);
}

double z_of_phi(double phi) {
  // phi_of_z is increasing; bisection is exact enough and only runs when thresholds are set up.
  double low = -10.0;
  double high = 100.0;
  for (int i = 0; i < 200; ++i) {
    double middle = 0.5 * (low + high);
    if (phi_of_z(middle) < phi) {
      low = middle;
    } else {
      high = middle;
    }
  }
  return high;
}

PhiAccrual::PhiAccrual(PhiSettings settings) : settings_(settings) {
  settings_.window = std::max<std::size_t>(settings_.window, 2);
}

void PhiAccrual::reset() {
  last_s_.reset();
  intervals_.clear();
  sum_ = 0.0;
  sum_squares_ = 0.0;
}

void PhiAccrual::heartbeat(double at_s) {
  if (last_s_ && at_s < *last_s_) return;
  if (last_s_) {
    double interval = at_s - *last_s_;
    intervals_.push_back(interval);
    sum_ += interval;
    sum_squares_ += interval * interval;
    if (intervals_.size() > settings_.window) {
      double oldest = intervals_.front();
      intervals_.pop_front();
      sum_ -= oldest;
      sum_squares_ -= oldest * oldest;
    }
  }
  last_s_ = at_s;
}

double PhiAccrual::mean_interval_s() const {
  if (intervals_.empty()) return settings_.expected_interval_s;
  return sum_ / static_cast<double>(intervals_.size());
}

double PhiAccrual::std_dev_s() const {
  if (intervals_.size() < 2) return settings_.expected_interval_s / 4.0;
  double count = static_cast<double>(intervals_.size());
  double mean = sum_ / count;
  double variance = std::max(0.0, sum_squares_ / count - mean * mean);
  return std::sqrt(variance);
}

double PhiAccrual::phi(double now_s) const {
  if (!last_s_) return 0.0;
  double elapsed = now_s - *last_s_;
  double mean = mean_interval_s() + settings_.acceptable_pause_s;
  double std_dev = std::max(std_dev_s(), settings_.min_std_dev_s);
  return std::max(0.0, phi_of_z((elapsed - mean) / std_dev));
}

double PhiAccrual::time_at_z(double z) const {
  if (!last_s_) return std::numeric_limits<double>::infinity();
  double mean = mean_interval_s() + settings_.acceptable_pause_s;
  double std_dev = std::max(std_dev_s(), settings_.min_std_dev_s);
  return *last_s_ + mean + z * std_dev;
}

}  // namespace revive::detect
