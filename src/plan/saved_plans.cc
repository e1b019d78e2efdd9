#include "plan/saved_plans.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "plan/plan_checker.h"

namespace revive::plan {

nlohmann::json saved_plans_json(const model::Cloud& cloud, const PrecomputedPlans& plans,
                                double precompute_ms) {
  nlohmann::json out;
  out["version"] = 1;
  out["plans"] = nlohmann::json::array();
  std::size_t with_waiting = 0;
  for (const auto& entry : plans.plans()) {
    nlohmann::json item = to_json(cloud, entry.plan);
    item["name"] = entry.name;
    out["plans"].push_back(std::move(item));
    with_waiting += entry.plan.waiting.empty() ? 0 : 1;
  }
  out["stats"] = {{"plans", plans.plans().size()},
                  {"plans_with_waiting", with_waiting},
                  {"precompute_ms", precompute_ms}};
  return out;
}

SavedPlans SavedPlans::load(const std::string& path, const model::Cloud& cloud) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument(path + ": cannot read");
  nlohmann::json document;
  try {
    document = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw std::invalid_argument(fmt::format("{}: not JSON: {}", path, e.what()));
  }
  auto plans = document.find("plans");
  if (!document.is_object() || plans == document.end() || !plans->is_array()) {
    throw std::invalid_argument(
        path + ": plans: is required (a list; write it with revive plan --precompute --save)");
  }
  SavedPlans saved;
  for (std::size_t i = 0; i < plans->size(); ++i) {
    auto field = fmt::format("plans[{}]", i);
    Entry entry;
    try {
      entry.plan = plan_from_json(cloud, (*plans)[i], field);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(fmt::format("{}: {}", path, e.what()));
    }
    const auto& item = (*plans)[i];
    auto name = item.find("name");
    entry.name = name != item.end() && name->is_string() ? name->get<std::string>() : field;
    entry.failed_sorted = entry.plan.failed_hosts;
    std::sort(entry.failed_sorted.begin(), entry.failed_sorted.end());
    saved.plans_.push_back(std::move(entry));
  }
  return saved;
}

std::optional<Plan> SavedPlans::take(const model::Cloud& state, const PlanRequest& request) {
  if (!request.evacuated_hosts.empty()) return std::nullopt;
  auto failed = request.failed_hosts;
  std::sort(failed.begin(), failed.end());
  for (const auto& entry : plans_) {
    if (entry.failed_sorted != failed) continue;
    auto violations = find_plan_violations(state, request, entry.plan);
    if (!violations.empty()) {
      ++rejected_;
      last_rejection_ = fmt::format("plan {} no longer holds: {}", entry.name, violations.front());
      return std::nullopt;
    }
    ++used_;
    return entry.plan;
  }
  return std::nullopt;
}

}  // namespace revive::plan
