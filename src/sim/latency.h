// Step durations of the simulation: lognormal with a median and a spread (sigma of the underlying normal), or
// fixed. A duration is a pure function of (seed, step kind, subject, disk, attempt) through a counter-based
// hash (splitmix64 -> two uniforms -> Box-Muller), never of the order steps run in: every strategy meets the
// same durations, and a step retried gets a fresh draw (attempt + 1).
// With a repeatability r (../shared/spec/simulation.md `latency.repeatability`) a duration is
// median x exp(spread x (sqrt(r) x habit + sqrt(1 - r) x noise)): `habit` is drawn per (subject, step kind)
// alone, the same under every seed (the same VM starts about as fast in every run), `noise` per (seed,
// subject, disk, attempt) -- this run's luck, which no estimate can know.
#pragma once

#include <cstdint>

#include "env/step.h"
#include "model/cloud.h"

namespace revive::sim {

struct Latency {
  double median_s = 0.0;
  double spread = 0.0;  // 0: fixed at median_s
  bool is_fixed() const { return spread == 0.0; }
};

// A standard normal variate determined by the key alone.
double normal_variate(std::uint64_t seed, env::StepKind kind, model::Index subject, model::DiskIndex disk,
                      std::uint32_t attempt);

// The habit of a subject (VM, or host for fences) for a step kind: a standard normal, the same in every run.
double habit_variate(env::StepKind kind, model::Index subject);

// The duration of one attempt of one step, seconds (>= 0); `repeatability` in [0, 1].
double draw_duration(const Latency& latency, std::uint64_t seed, env::StepKind kind, model::Index subject,
                     model::DiskIndex disk, std::uint32_t attempt, double repeatability = 0.0);

// What the subject's habit alone predicts: median x exp(spread x sqrt(r) x habit), the median of its
// durations over many runs (what an honest history of earlier recoveries knows).
double habit_duration(const Latency& latency, env::StepKind kind, model::Index subject, double repeatability);

// A uniform variate in [0, 1) from a key (heartbeat loss and jitter and the like).
double uniform_variate(std::uint64_t seed, std::uint64_t a, std::uint64_t b, std::uint64_t c);

}  // namespace revive::sim
