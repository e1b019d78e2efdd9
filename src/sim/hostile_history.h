// Random hostile histories for the simulator: a small generated cloud of varied shape (hosts, racks, arrays,
// endpoints, spares, VMs with and without disks, priorities, `after` chains, affinity and anti-affinity,
// overcommit and dirty rates drawn) and a scenario full of the faults that break naive recovery engines
// (issue 9, issue 13) -- crashes and isolations of hosts, also of the hosts VMs are being recovered onto;
// isolations cutting one or two channels only (agent, hypervisor, storage lease), later crashed or cut
// entirely; drains with deadlines of two hosts at once or overlapping; sources isolated mid-migration;
// migrations failing mid-drain; maintenance exit (with or without fail-back) and cancel mid-flight; fences
// failing and BMCs slow; failing steps; slowdowns of x10-x15 that push steps past their timeouts
// (max(60 s, 5 x estimate)), then failing retries. The simulator's world checks the invariants independently
// of the engine, so a history is a test: run it (sim::run_simulation, sim/torture.h) and expect no violation.
//
// Deterministic: the same seed gives the same cloud and scenario on every platform (std::mt19937_64 with
// arithmetic of our own, no std:: distributions). Thread-safety: a pure function.
#pragma once

#include <cstdint>
#include <string>

#include "model/cloud.h"
#include "sim/scenario.h"

namespace revive::sim {

struct HostileHistory {
  std::uint64_t seed = 0;
  model::Cloud cloud;  // indexes built
  // Its events refer to `cloud` by index; file is "hostile-<seed>", lines are 0.
  Scenario scenario;
  // One line for people: the cloud's size and the faults, e.g. "12 hosts, 64 VMs (9 without disks);
  // start-timeout on host-0004 ...".
  std::string description;
};

// 6-20 hosts, 20-120 VMs (some without disks), endpoint max_parallel 1-4, small array, switch and per-host
// limits; 2-5 fault motifs between 0 and ~500 s, a fixed detection delay in most histories.
struct HostileHistoryOptions {
  // Also kill the controller at random journal points and resume a new one (histories without drains only).
  // Off by default: the resumed executor frees the dead controller's slots after one start timeout, while
  // calls slowed past it still run (limits exceeded; left open, docs/RELIABILITY.md).
  bool controller_restarts = false;
};
HostileHistory make_hostile_history(std::uint64_t seed, const HostileHistoryOptions& options = {});

// The scenario as a scenario file (YAML v1, docs/cli.md), to replay a history with `revive simulate` next to
// its cloud written by model::write_inventory. Loading it against that cloud gives the same scenario.
std::string scenario_yaml(const HostileHistory& history);

}  // namespace revive::sim
