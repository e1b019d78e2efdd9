#include "model/cloud_json.h"

#include <algorithm>

namespace revive::model {

namespace {

using nlohmann::json;

json labels_json(const Cloud& cloud, const std::vector<Label>& labels) {
  json object = json::object();
  for (const Label& label : labels) object[cloud.symbols.name(label.key)] = cloud.symbols.name(label.value);
  return object;
}

// By name, so that the export does not depend on the order in which the symbols were interned.
json symbols_json(const Cloud& cloud, const std::vector<Symbol>& symbols) {
  std::vector<std::string> names;
  names.reserve(symbols.size());
  for (Symbol symbol : symbols) names.push_back(cloud.symbols.name(symbol));
  std::sort(names.begin(), names.end());
  return names;
}

template <typename Entity>
json limited_json(const std::vector<Entity>& entities) {
  json list = json::array();
  for (const Entity& entity : entities)
    list.push_back({{"name", entity.name}, {"max_parallel", entity.max_parallel}});
  return list;
}

json host_json(const Cloud& cloud, HostIndex index) {
  const Host& host = cloud.hosts[index];
  std::uint64_t used_cpus = 0;
  std::uint64_t used_memory_mib = 0;
  for (VmIndex vm : cloud.vms_on(index)) {
    used_cpus += cloud.vms[vm].cpus;
    used_memory_mib += cloud.vms[vm].memory_mib;
  }
  json arrays = json::array();
  for (ArrayIndex array : host.arrays) arrays.push_back(cloud.arrays[array].name);
  json object = {
      {"name", host.name},
      {"cpus", host.cpus},
      {"memory_mib", host.memory_mib},
      {"arch", cloud.symbols.name(host.arch)},
      {"labels", labels_json(cloud, host.labels)},
      {"networks", symbols_json(cloud, host.networks)},
      {"arrays", std::move(arrays)},
      {"endpoint", host.endpoint == kNoIndex ? json(nullptr) : json(cloud.endpoints[host.endpoint].name)},
      {"switch",
       host.network_switch == kNoIndex ? json(nullptr) : json(cloud.switches[host.network_switch].name)},
      {"nic_gbps", host.nic_gbps},
      {"reserved", host.reserved},
      {"state", to_string(host.state)},
      {"uri", host.uri.empty() ? json(nullptr) : json(host.uri)},
      {"initiator", host.initiator.empty() ? json(nullptr) : json(host.initiator)},
      {"bmc", nullptr},
      {"vm_count", cloud.vms_on(index).size()},
      {"usable", {{"cpus", cloud.usable_cpus(index)}, {"memory_mib", cloud.usable_memory_mib(index)}}},
      {"used", {{"cpus", used_cpus}, {"memory_mib", used_memory_mib}}},
      {"free",
       {{"cpus", cloud.usable_cpus(index) - static_cast<double>(used_cpus)},
        {"memory_mib", cloud.usable_memory_mib(index) - static_cast<double>(used_memory_mib)}}},
  };
  if (host.bmc) {
    object["bmc"] = {{"address", host.bmc->address},
                     {"port", host.bmc->port},
                     {"user", host.bmc->user},
                     {"password_file", host.bmc->password_file}};
  }
  return object;
}

json vm_json(const Cloud& cloud, VmIndex index) {
  const Vm& vm = cloud.vms[index];
  json disks = json::array();
  for (std::size_t d = vm.first_disk; d < cloud.vm_disk_end(index); ++d) {
    const Disk& disk = cloud.disks[d];
    disks.push_back(
        {{"name", disk.name}, {"array", cloud.arrays[disk.array].name}, {"size_gib", disk.size_gib}});
  }
  json after = json::array();
  for (VmIndex other : vm.after) after.push_back(cloud.vms[other].name);
  json groups = json::array();
  for (GroupIndex group : vm.groups) groups.push_back(cloud.groups[group].name);
  return {
      {"name", vm.name},
      {"host", vm.host == kNoIndex ? json(nullptr) : json(cloud.hosts[vm.host].name)},
      {"cpus", vm.cpus},
      {"memory_mib", vm.memory_mib},
      {"priority", to_string(vm.priority)},
      {"protect", vm.protect},
      {"networks", symbols_json(cloud, vm.networks)},
      {"disks", std::move(disks)},
      {"require_labels", labels_json(cloud, vm.require_labels)},
      {"prefer_labels", labels_json(cloud, vm.prefer_labels)},
      {"dirty_mib_s", vm.dirty_mib_s},
      {"after", std::move(after)},
      {"groups", std::move(groups)},
  };
}

}  // namespace

json to_json(const Cloud& cloud) {
  json hosts = json::array();
  for (HostIndex h = 0; h < cloud.hosts.size(); ++h) hosts.push_back(host_json(cloud, h));
  json vms = json::array();
  for (VmIndex v = 0; v < cloud.vms.size(); ++v) vms.push_back(vm_json(cloud, v));
  json groups = json::array();
  for (const Group& group : cloud.groups) {
    json members = json::array();
    for (VmIndex member : group.members) members.push_back(cloud.vms[member].name);
    groups.push_back({{"name", group.name},
                      {"kind", to_string(group.kind)},
                      {"scope", cloud.symbols.name(group.scope)},
                      {"members", std::move(members)}});
  }
  json policy = {
      {"overcommit", {{"cpu", cloud.policy.cpu_overcommit}, {"memory", cloud.policy.memory_overcommit}}},
      {"host_max_parallel_restarts", cloud.policy.host_max_parallel_restarts},
      {"host_max_parallel_migrations", cloud.policy.host_max_parallel_migrations}};
  if (cloud.policy.fence_max_parallel != Policy{}.fence_max_parallel) {
    policy["fence_max_parallel"] = cloud.policy.fence_max_parallel;
  }
  if (cloud.policy.spares != SparesPolicy{}) {
    policy["spares"] = {{"order", to_string(cloud.policy.spares.order)},
                        {"maintenance", cloud.policy.spares.maintenance}};
  }
  return {
      {"version", 1},
      {"policy", std::move(policy)},
      {"endpoints", limited_json(cloud.endpoints)},
      {"arrays", limited_json(cloud.arrays)},
      {"switches", limited_json(cloud.switches)},
      {"hosts", std::move(hosts)},
      {"vms", std::move(vms)},
      {"groups", std::move(groups)},
  };
}

}  // namespace revive::model
