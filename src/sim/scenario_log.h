// The event log of one simulated run, for people and for the scenario directories (tests/scenarios/): every
// scenario event, every verdict on a lost host, every step as it ran and every VM running again, in time
// order, then what became of each lost host and each moved VM, and the counts. One line per fact, times in
// seconds from the first event with three decimals, names only (no indexes, no wall-clock figures), so the
// same inputs give the same text byte for byte and a behaviour change shows as a line diff.
// Thread-safety: a pure function.
#pragma once

#include <string>

#include "model/cloud.h"
#include "sim/scenario.h"
#include "sim/simulation.h"

namespace revive::sim {

std::string scenario_log(const model::Cloud& cloud, const Scenario& scenario, const SimulationResult& result);

}  // namespace revive::sim
