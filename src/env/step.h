// The kinds of recovery and evacuation steps, shared by the executor (which issues them), the simulator
// (which times them) and the timeline (which shows them), and the estimates the scheduler uses to order them.
#pragma once

#include <optional>
#include <string_view>

#include "model/cloud.h"

namespace revive::env {

enum class StepKind : std::uint8_t { fence, disk_unmap, disk_map, net_config, vm_start, vm_stop, migrate };
inline constexpr int kStepKindCount = 7;

// "fence", "disk_unmap", ... as in ../shared/spec/simulation.md.
std::string_view to_string(StepKind kind);
std::optional<StepKind> parse_step_kind(std::string_view text);

// Expected durations of steps, in seconds, for the scheduler's critical-path ordering. Real implementation:
// the durations this VM's steps took last time (kept in the journal), falling back to medians per kind; the
// simulator's twin reads the scenario's latency model. `subject` is the VM, or the host for `fence`; `disk`
// is set for disk steps only (kNoIndex otherwise). Thread-safety: engine thread only.
class DurationEstimator {
 public:
  DurationEstimator() = default;
  DurationEstimator(const DurationEstimator&) = delete;
  DurationEstimator& operator=(const DurationEstimator&) = delete;
  virtual ~DurationEstimator() = default;

  virtual double expected_s(StepKind kind, model::Index subject, model::DiskIndex disk) const = 0;
  // How far this run's durations of `kind` stray from expected_s: the sigma of log(actual / expected) (a
  // history of earlier recoveries measures it as the spread of each VM's durations around its own median),
  // or nullopt when unknown (the scheduler then assumes its own default). The scheduler draws its what-if
  // runs from it to choose schedules that hold up against this run's noise.
  virtual std::optional<double> noise_spread(StepKind /*kind*/) const { return std::nullopt; }
};

}  // namespace revive::env
