#include "sim/latency.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace revive::sim {

namespace {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uint64_t hash_key(std::uint64_t seed, std::uint64_t a, std::uint64_t b, std::uint64_t c,
                       std::uint64_t d) {
  std::uint64_t h = splitmix64(seed);
  h = splitmix64(h ^ a);
  h = splitmix64(h ^ b);
  h = splitmix64(h ^ c);
  h = splitmix64(h ^ d);
  return h;
}

// (0, 1]: never 0, so log() is finite.
double unit_open_low(std::uint64_t bits) {
  return (static_cast<double>(bits >> 11) + 1.0) * 0x1.0p-53;
}

}  // namespace

double normal_variate(std::uint64_t seed, env::StepKind kind, model::Index subject, model::DiskIndex disk,
                      std::uint32_t attempt) {
  auto h = hash_key(seed, static_cast<std::uint64_t>(kind) + 1, subject, disk, attempt);
  double u1 = unit_open_low(h);
  double u2 = unit_open_low(splitmix64(h));
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

// Habits are keyed by a seed of their own, not the scenario's: the same in every run.
constexpr std::uint64_t kHabitSeed = 0x6861626974ULL;  // "habit"

double habit_variate(env::StepKind kind, model::Index subject) {
  return normal_variate(kHabitSeed, kind, subject, model::kNoIndex, 0);
}

double draw_duration(const Latency& latency, std::uint64_t seed, env::StepKind kind, model::Index subject,
                     model::DiskIndex disk, std::uint32_t attempt, double repeatability) {
  if (latency.is_fixed()) return latency.median_s;
  double noise = normal_variate(seed, kind, subject, disk, attempt);
  if (repeatability <= 0.0) return latency.median_s * std::exp(latency.spread * noise);
  double r = std::min(repeatability, 1.0);
  double z = std::sqrt(r) * habit_variate(kind, subject) + std::sqrt(1.0 - r) * noise;
  return latency.median_s * std::exp(latency.spread * z);
}

double habit_duration(const Latency& latency, env::StepKind kind, model::Index subject,
                      double repeatability) {
  if (latency.is_fixed() || repeatability <= 0.0) return latency.median_s;
  double r = std::min(repeatability, 1.0);
  return latency.median_s * std::exp(latency.spread * std::sqrt(r) * habit_variate(kind, subject));
}

double uniform_variate(std::uint64_t seed, std::uint64_t a, std::uint64_t b, std::uint64_t c) {
  return static_cast<double>(hash_key(seed, 0xfeedULL, a, b, c) >> 11) * 0x1.0p-53;
}

}  // namespace revive::sim
