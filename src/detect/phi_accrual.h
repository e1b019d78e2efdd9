// Phi-accrual failure detector (Hayashibara, Défago, Yared, Katayama, SRDS 2004) for one heartbeat stream.
// Instead of a yes/no answer it gives phi = -log10(P(a heartbeat arrives later than now)), computed from the
// observed inter-arrival times (a sliding window, modelled as a normal distribution as in Akka's variant):
// phi = 1 means a 10% chance that the stream is merely late, phi = 8 a 10^-8 chance. Callers compare phi
// against their own thresholds.
//
// Robustness knobs, as in Akka: `acceptable_pause_s` is added to the mean (tolerated silence on top of the
// usual interval, e.g. GC pauses or lost packets), `min_std_dev_s` keeps a too-regular stream from making phi
// jump at the first tiny delay. Before two heartbeats are seen, the window is seeded with
// `expected_interval_s` (std dev a quarter of it).
//
// Time is whatever the caller passes (seconds, any epoch, non-decreasing). Pure computation, no clock, no
// threads; a value type. Thread-safety: none (one owner).
#pragma once

#include <cstddef>
#include <deque>
#include <optional>

namespace revive::detect {

struct PhiSettings {
  double expected_interval_s = 1.0;
  double acceptable_pause_s = 1.0;
  double min_std_dev_s = 0.1;
  std::size_t window = 200;  // inter-arrival samples kept
};

// -log10 of the upper tail of the standard normal distribution at z (accurate far into the tail).
double phi_of_z(double z);
// Inverse: the z at which phi_of_z(z) == phi.
double z_of_phi(double phi);

class PhiAccrual {
 public:
  explicit PhiAccrual(PhiSettings settings = {});

  // A heartbeat arrived at `at_s`. Out-of-order times (earlier than the last one) are ignored.
  void heartbeat(double at_s);
  // Forgets the history (e.g. after the host was repaired and rejoins).
  void reset();

  bool has_heartbeat() const { return last_s_.has_value(); }
  std::optional<double> last_heartbeat_s() const { return last_s_; }
  // Suspicion level at `now_s`; 0 before the first heartbeat (nothing to suspect yet). Capped at kMaxPhi.
  double phi(double now_s) const;
  // The earliest time at which phi(t) >= threshold given no further heartbeat; +inf before the first one.
  double time_of_phi(double threshold) const { return time_at_z(z_of_phi(threshold)); }
  // Same with the threshold given as its z (z_of_phi(threshold)), for callers that precompute it.
  double time_at_z(double z) const;

  double mean_interval_s() const;
  double std_dev_s() const;

  static constexpr double kMaxPhi = 1000.0;

 private:
  PhiSettings settings_;
  std::optional<double> last_s_;
  std::deque<double> intervals_;
  double sum_ = 0.0;
  double sum_squares_ = 0.0;
};

}  // namespace revive::detect
