// Randomized fault simulation (`revive torture`): many seeded hostile histories (sim/hostile_history.h), each
// run by the real engine against the simulated world, every invariant checked; a failing history is shrunk to
// a minimal one (delta debugging over its events) and can be written out as an inventory and a scenario that
// `revive simulate` replays exactly.
//
// The invariants of one run (check_history): the world's, checked at every instant independently of the
// engine (never two running copies; no start before a confirmed fence -- or another proof -- of every host
// the VM may run on and before every disk of it is mapped there alone; no concurrency limit exceeded; no
// fence of a host that needs no recovery), the outcome's (every VM the engines report running or moved runs
// there alone; no VM still recovering or being moved at the end; a VM not running ends with a reason; a
// protected VM that does not run although a placement exists is lost), and every placement any engine decided
// obeys every hard constraint and group of the cloud as the engine saw it (plan::find_plan_violations,
// independent of the planner).
//
// Each seed runs in a child process (fork): a crash or abort is that seed's failure and the others still run;
// `jobs` children run at once. Deterministic: a seed's verdict does not depend on jobs or on other seeds.
// Thread-safety: call from one thread; POSIX only.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "sim/hostile_history.h"

namespace revive::sim {

// What a run is checked for beyond the simulator's own invariants (every check fails a seed).
struct HistoryChecks {
  // Hosts that end holding more VM memory than they have (replayed from the timeline; the two engines plan
  // with one shared capacity view, exec/host_availability.h ReservedRoom).
  bool capacity = false;
  // A VM whose recovery stalled: it ends waiting with nothing named that it waits for (finalize's catch-all
  // "recovery did not complete").
  bool stalls = true;
  // A recovery-time budget (seconds, 0: none): a VM restarted later than this after its host was lost fails
  // the seed. Hostile histories slow steps many times over, so a budget finds where no schedule meets an
  // SLA, not only bugs.
  double max_recovery_s = 0.0;
};

struct TortureOptions {
  std::uint64_t first_seed = 1;
  std::uint64_t seeds = 100;
  unsigned jobs = 1;
  bool shrink = true;  // shrink each failing history to a minimal one
  HistoryChecks checks;
  HostileHistoryOptions histories;  // controller restarts (histories without drains only)
};

// The outcome of one history.
struct SeedVerdict {
  std::uint64_t seed = 0;
  std::string description;              // the history's one line
  std::string crash;                    // how the child died ("killed by signal 6"); empty when it ended
  std::vector<std::string> violations;  // invariants broken; empty (and no crash) = the seed passed
  std::size_t events = 0;               // events of the history
  bool failed() const { return !crash.empty() || !violations.empty(); }
  // When failed and shrunk: the events of a minimal history that still breaks the first violation's kind.
  std::vector<ScenarioEvent> shrunk_events;
  std::vector<std::string> shrunk_violations;
};

struct TortureReport {
  std::uint64_t first_seed = 0, seeds = 0;
  std::vector<SeedVerdict> failures;  // in seed order
  double wall_s = 0.0;
};

// The invariants broken by one history (empty when it keeps all of them) and what `checks` adds, in this
// process.
std::vector<std::string> check_history(const HostileHistory& history, const HistoryChecks& checks = {});

// check_history in a child process; a crash is a failure of its own (SeedVerdict::crash).
SeedVerdict run_history_isolated(const HostileHistory& history, const HistoryChecks& checks = {});

// Delta debugging (ddmin) over the history's events: the smallest subset found that still breaks an
// invariant of the same kind as `verdict`'s first one (or crashes the same way). Fills shrunk_*.
void shrink_failure(const HostileHistory& history, SeedVerdict& verdict, const HistoryChecks& checks = {});

// Runs seeds [first_seed, first_seed + seeds); `on_verdict` (optional) sees every verdict, in seed order,
// failing ones after shrinking.
TortureReport run_torture(const TortureOptions& options,
                          const std::function<void(const SeedVerdict&)>& on_verdict = {});

// A violation with its names and numbers taken out (host-0004 -> host-N, 12.5 -> #): violations of one kind
// compare equal.
std::string violation_kind(const std::string& violation);

// The command that replays one seed exactly (with the histories' options it was made with, and the checks).
std::string replay_command(std::uint64_t seed, const HostileHistoryOptions& histories = {},
                           const HistoryChecks& checks = {});

// `history` with only `events` (for writing a shrunk history).
HostileHistory with_events(const HostileHistory& history, std::vector<ScenarioEvent> events);

// Writes DIR/torture-SEED-inventory.yaml and DIR/torture-SEED-scenario.yaml (and, when the verdict was
// shrunk, DIR/torture-SEED-shrunk-scenario.yaml); returns the paths written. Throws std::runtime_error when
// the directory or a file cannot be written.
std::vector<std::string> save_history(const HostileHistory& history, const SeedVerdict& verdict,
                                      const std::string& directory);

}  // namespace revive::sim
