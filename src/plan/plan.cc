#include "plan/plan.h"

#include <nlohmann/json.hpp>

namespace revive::plan {

nlohmann::json to_json(const model::Cloud& cloud, const Plan& plan) {
  auto host_name = [&](model::HostIndex h) {
    return h < cloud.hosts.size() ? cloud.hosts[h].name : std::string();
  };
  nlohmann::json out;
  out["version"] = 1;
  out["failed_hosts"] = nlohmann::json::array();
  for (auto h : plan.failed_hosts) out["failed_hosts"].push_back(host_name(h));
  if (!plan.evacuated_hosts.empty()) {
    out["evacuated_hosts"] = nlohmann::json::array();
    for (auto h : plan.evacuated_hosts) out["evacuated_hosts"].push_back(host_name(h));
  }
  out["placements"] = nlohmann::json::array();
  for (const auto& placement : plan.placements) {
    const auto& vm = cloud.vms[placement.vm];
    nlohmann::json item;
    item["vm"] = vm.name;
    item["from"] = host_name(placement.from);
    item["to"] = host_name(placement.to);
    item["priority"] = std::string(model::to_string(vm.priority));
    if (placement.effective_priority != vm.priority) {
      item["effective_priority"] = std::string(model::to_string(placement.effective_priority));
    }
    item["disks"] = nlohmann::json::array();
    for (auto d = vm.first_disk; d < cloud.vm_disk_end(placement.vm); ++d)
      item["disks"].push_back(cloud.disks[d].name);
    item["start_after"] = nlohmann::json::array();
    for (auto dependency : placement.start_after) item["start_after"].push_back(cloud.vms[dependency].name);
    out["placements"].push_back(std::move(item));
  }
  out["waiting"] = nlohmann::json::array();
  for (const auto& waiting : plan.waiting) {
    const auto& vm = cloud.vms[waiting.vm];
    nlohmann::json item;
    item["vm"] = vm.name;
    item["from"] = host_name(waiting.from);
    item["priority"] = std::string(model::to_string(vm.priority));
    if (waiting.effective_priority != vm.priority) {
      item["effective_priority"] = std::string(model::to_string(waiting.effective_priority));
    }
    item["reason"] = waiting.reason;
    out["waiting"].push_back(std::move(item));
  }
  out["stats"] = {{"vms", plan.placements.size() + plan.waiting.size()},
                  {"placed", plan.placements.size()},
                  {"waiting", plan.waiting.size()},
                  {"plan_ms", plan.plan_ms}};
  return out;
}

}  // namespace revive::plan
