#include "plan/plan.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

namespace revive::plan {
namespace {

class PlanReader {
 public:
  PlanReader(const model::Cloud& cloud, std::string prefix) : cloud_(cloud), prefix_(std::move(prefix)) {}

  [[noreturn]] void fail(const std::string& field, const std::string& message) const {
    throw std::invalid_argument(fmt::format("{}{}: {}", prefix_, field, message));
  }

  const nlohmann::json& member(const nlohmann::json& object, const std::string& field,
                               const char* key) const {
    auto found = object.find(key);
    if (found == object.end()) fail(field + "." + key, "is required");
    return *found;
  }

  std::string text(const nlohmann::json& value, const std::string& field) const {
    if (!value.is_string()) fail(field, "must be a string");
    return value.get<std::string>();
  }

  model::HostIndex host(const nlohmann::json& value, const std::string& field) const {
    auto name = text(value, field);
    auto index = cloud_.find_host(name);
    if (index == model::kNoIndex) fail(field, fmt::format("unknown host \"{}\"", name));
    return index;
  }

  model::VmIndex vm(const nlohmann::json& value, const std::string& field) const {
    auto name = text(value, field);
    auto index = cloud_.find_vm(name);
    if (index == model::kNoIndex) fail(field, fmt::format("unknown VM \"{}\"", name));
    return index;
  }

  model::Priority priority(const nlohmann::json& item, const std::string& field, model::VmIndex vm) const {
    auto found = item.find("effective_priority");
    if (found == item.end()) return cloud_.vms[vm].priority;
    auto parsed = model::parse_priority(text(*found, field + ".effective_priority"));
    if (!parsed) fail(field + ".effective_priority", "must be critical, high, medium or low");
    return *parsed;
  }

  std::vector<model::HostIndex> hosts(const nlohmann::json& object, const char* key, bool required) const {
    std::vector<model::HostIndex> result;
    auto found = object.find(key);
    if (found == object.end()) {
      if (required) fail(key, "is required");
      return result;
    }
    if (!found->is_array()) fail(key, "must be a list of host names");
    for (std::size_t i = 0; i < found->size(); ++i)
      result.push_back(host((*found)[i], fmt::format("{}[{}]", key, i)));
    return result;
  }

  const nlohmann::json& list(const nlohmann::json& object, const char* key) const {
    const auto& value = member(object, "", key);
    if (!value.is_array()) fail(key, "must be a list");
    return value;
  }

 private:
  const model::Cloud& cloud_;
  std::string prefix_;
};

}  // namespace

Plan plan_from_json(const model::Cloud& cloud, const nlohmann::json& json, const std::string& field) {
  PlanReader reader(cloud, field.empty() ? std::string() : field + ".");
  if (!json.is_object()) reader.fail("plan", "must be an object");
  if (auto version = json.find("version"); version != json.end() && *version != 1) {
    reader.fail("version", "must be 1");
  }
  Plan plan;
  plan.failed_hosts = reader.hosts(json, "failed_hosts", true);
  plan.evacuated_hosts = reader.hosts(json, "evacuated_hosts", false);
  const auto& placements = reader.list(json, "placements");
  for (std::size_t i = 0; i < placements.size(); ++i) {
    auto at = fmt::format("placements[{}]", i);
    const auto& item = placements[i];
    if (!item.is_object()) reader.fail(at, "must be an object");
    Placement placement;
    placement.vm = reader.vm(reader.member(item, at, "vm"), at + ".vm");
    placement.from = reader.host(reader.member(item, at, "from"), at + ".from");
    placement.to = reader.host(reader.member(item, at, "to"), at + ".to");
    placement.effective_priority = reader.priority(item, at, placement.vm);
    placement.choice = Choice::saved;
    if (auto after = item.find("start_after"); after != item.end()) {
      if (!after->is_array()) reader.fail(at + ".start_after", "must be a list of VM names");
      for (std::size_t j = 0; j < after->size(); ++j) {
        placement.start_after.push_back(reader.vm((*after)[j], fmt::format("{}.start_after[{}]", at, j)));
      }
    }
    plan.placements.push_back(std::move(placement));
  }
  const auto& waiting = reader.list(json, "waiting");
  for (std::size_t i = 0; i < waiting.size(); ++i) {
    auto at = fmt::format("waiting[{}]", i);
    const auto& item = waiting[i];
    if (!item.is_object()) reader.fail(at, "must be an object");
    Waiting entry;
    entry.vm = reader.vm(reader.member(item, at, "vm"), at + ".vm");
    entry.from = reader.host(reader.member(item, at, "from"), at + ".from");
    entry.effective_priority = reader.priority(item, at, entry.vm);
    entry.reason = reader.text(reader.member(item, at, "reason"), at + ".reason");
    plan.waiting.push_back(std::move(entry));
  }
  return plan;
}

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
