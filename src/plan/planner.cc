#include "plan/planner.h"

#include <stdexcept>

#include "plan/placement_engine.h"

namespace revive::plan {

Plan plan_failover(const model::Cloud& cloud, const PlanRequest& request, const PlannerOptions& options) {
  if (options.exact) throw std::invalid_argument("exact mode is not available in this build");
  PlacementEngine engine(cloud);
  return engine.plan(request, options);
}

}  // namespace revive::plan
