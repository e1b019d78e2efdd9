#include "plan/planner.h"

#include <stdexcept>

#include "plan/exact_planner.h"
#include "plan/placement_engine.h"

namespace revive::plan {

Plan plan_failover(const model::Cloud& cloud, const PlanRequest& request, const PlannerOptions& options) {
  if (options.exact) return plan_exact(cloud, request, options.exact_time_limit_s);
  PlacementEngine engine(cloud);
  return engine.plan(request, options);
}

}  // namespace revive::plan
