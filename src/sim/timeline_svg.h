// The Gantt chart of a simulated recovery (timeline.svg): one block of lanes per resource scope -- fencing,
// each storage array, each switch, each endpoint -- with one lane per concurrent slot actually used, steps as
// bars coloured by kind (legend at the top), failed steps outlined and marked in red, a dashed line where
// each priority tier is done, and a time axis. Large runs (more slots than fit) switch to one lane per
// resource showing how many of its slots are busy over time, busiest resources first. Deterministic text.
#pragma once

#include <string>

#include "model/cloud.h"
#include "sim/scenario.h"
#include "sim/simulation.h"

namespace revive::sim {

std::string timeline_svg(const model::Cloud& cloud, const Scenario& scenario, const SimulationResult& result);

}  // namespace revive::sim
