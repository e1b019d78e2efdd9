#include "plan/decision.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "model/inventory.h"

namespace revive::plan {

namespace {

nlohmann::ordered_json host_names(const model::Cloud& cloud, const std::vector<model::HostIndex>& hosts) {
  auto names = nlohmann::ordered_json::array();
  for (auto host : hosts) names.push_back(cloud.hosts[host].name);
  return names;
}

// The names of `request.<field>` resolved against `cloud`; an unknown name is an error naming the field.
template <typename Find>
std::vector<model::Index> indexes(const nlohmann::json& request, const char* field, std::string_view file,
                                  Find find) {
  std::vector<model::Index> out;
  if (!request.contains(field)) return out;
  const auto& names = request.at(field);
  if (!names.is_array()) throw DecisionFileError(fmt::format("{}: request.{}: must be a list", file, field));
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (!names[i].is_string())
      throw DecisionFileError(fmt::format("{}: request.{}[{}]: must be a name", file, field, i));
    auto index = find(names[i].get<std::string>());
    if (index == model::kNoIndex) {
      throw DecisionFileError(fmt::format("{}: request.{}[{}]: '{}' is not in the saved inventory", file,
                                          field, i, names[i].get<std::string>()));
    }
    out.push_back(index);
  }
  return out;
}

template <typename T>
T field_or(const nlohmann::json& object, const char* key, T fallback, std::string_view file) {
  if (!object.contains(key)) return fallback;
  try {
    return object.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw DecisionFileError(fmt::format("{}: planner.{}: wrong type", file, key));
  }
}

}  // namespace

std::string plan_text(const model::Cloud& cloud, const Plan& plan) {
  Plan without_time = plan;
  without_time.plan_ms = 0.0;
  return to_json(cloud, without_time).dump();
}

nlohmann::ordered_json decision_json(const Decision& decision) {
  const auto& cloud = decision.view;
  nlohmann::ordered_json out;
  out["version"] = 1;
  out["engine"] = std::string(decision.engine);
  out["trigger"] = std::string(decision.trigger);
  out["at_s"] = decision.at_s;
  std::ostringstream inventory;
  model::write_inventory(cloud, inventory);
  out["inventory"] = inventory.str();
  nlohmann::ordered_json request;
  request["failed_hosts"] = host_names(cloud, decision.request.failed_hosts);
  request["evacuated_hosts"] = host_names(cloud, decision.request.evacuated_hosts);
  request["excluded_hosts"] = host_names(cloud, decision.request.excluded_hosts);
  auto vms = nlohmann::ordered_json::array();
  for (auto vm : decision.request.only_vms) vms.push_back(cloud.vms[vm].name);
  request["only_vms"] = std::move(vms);
  out["request"] = std::move(request);
  const auto& options = decision.options;
  out["planner"] = {{"exact", options.exact},
                    {"exact_time_limit_s", options.exact_time_limit_s},
                    {"repair_attempts", options.repair_attempts},
                    {"improvement_passes", options.improvement_passes},
                    {"spread_over_endpoints", options.spread_over_endpoints}};
  out["plan"] = nlohmann::ordered_json::parse(plan_text(cloud, decision.plan));
  return out;
}

std::string write_decision_file(const std::string& directory, std::size_t index, const Decision& decision) {
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error) throw std::runtime_error(fmt::format("cannot create {}: {}", directory, error.message()));
  auto path =
      (std::filesystem::path(directory) / fmt::format("decision-{:06}-{}.json", index, decision.engine))
          .string();
  std::ofstream out(path, std::ios::binary);
  out << decision_json(decision).dump(1) << "\n";
  if (!out) throw std::runtime_error("cannot write " + path);
  return path;
}

Replayed replay_decision(const nlohmann::json& decision, std::string_view file) {
  if (!decision.is_object()) throw DecisionFileError(fmt::format("{}: not a decision (a JSON object)", file));
  if (decision.value("version", 0) != 1) throw DecisionFileError(fmt::format("{}: version: must be 1", file));
  for (const char* key : {"inventory", "request", "plan"}) {
    if (!decision.contains(key)) throw DecisionFileError(fmt::format("{}: {}: is required", file, key));
  }
  if (!decision.at("inventory").is_string())
    throw DecisionFileError(fmt::format("{}: inventory: must be a string (an inventory file)", file));
  model::Cloud cloud;
  try {
    cloud = model::load_inventory_text(decision.at("inventory").get<std::string>(),
                                       fmt::format("{} (inventory)", file));
  } catch (const model::InventoryError& e) {
    throw DecisionFileError(fmt::format("{}: inventory: {}", file, e.what()));
  }
  const auto& saved_request = decision.at("request");
  if (!saved_request.is_object())
    throw DecisionFileError(fmt::format("{}: request: must be a mapping", file));
  auto find_host = [&cloud](const std::string& name) { return cloud.find_host(name); };
  auto find_vm = [&cloud](const std::string& name) { return cloud.find_vm(name); };
  PlanRequest request;
  request.failed_hosts = indexes(saved_request, "failed_hosts", file, find_host);
  request.evacuated_hosts = indexes(saved_request, "evacuated_hosts", file, find_host);
  request.excluded_hosts = indexes(saved_request, "excluded_hosts", file, find_host);
  request.only_vms = indexes(saved_request, "only_vms", file, find_vm);
  PlannerOptions options;
  if (decision.contains("planner")) {
    const auto& planner = decision.at("planner");
    if (!planner.is_object()) throw DecisionFileError(fmt::format("{}: planner: must be a mapping", file));
    options.exact = field_or(planner, "exact", options.exact, file);
    options.exact_time_limit_s = field_or(planner, "exact_time_limit_s", options.exact_time_limit_s, file);
    options.repair_attempts = field_or(planner, "repair_attempts", options.repair_attempts, file);
    options.improvement_passes = field_or(planner, "improvement_passes", options.improvement_passes, file);
    options.spread_over_endpoints =
        field_or(planner, "spread_over_endpoints", options.spread_over_endpoints, file);
  }
  Replayed replayed;
  replayed.saved_plan = decision.at("plan").dump();
  try {
    replayed.replayed_plan = plan_text(cloud, plan_failover(cloud, request, options));
  } catch (const std::invalid_argument& e) {
    throw DecisionFileError(fmt::format("{}: request: {}", file, e.what()));
  }
  return replayed;
}

}  // namespace revive::plan
