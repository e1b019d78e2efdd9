#include "drivers/libvirt/discovered_inventory.h"

#include <algorithm>

namespace revive::drivers {

namespace {

std::vector<model::Symbol> interned_networks(model::Cloud& cloud, const DomainDefinition& definition) {
  std::vector<model::Symbol> networks;
  for (const auto& name : definition.network_names()) networks.push_back(cloud.symbols.intern(name));
  for (const auto& name : definition.bridge_names()) networks.push_back(cloud.symbols.intern(name));
  std::sort(networks.begin(), networks.end());
  networks.erase(std::unique(networks.begin(), networks.end()), networks.end());
  return networks;
}

}  // namespace

InventoryChanges apply_discovery(model::Cloud& cloud, model::HostIndex host,
                                 const std::vector<DiscoveredDomain>& domains, const ArrayOfDisk& array_of) {
  InventoryChanges changes;
  for (const auto& domain : domains) {
    const DomainDefinition& definition = domain.definition;
    std::vector<model::Symbol> networks = interned_networks(cloud, definition);
    model::VmIndex known = cloud.find_vm(definition.name);
    if (known == model::kNoIndex) {
      // Listed twice (cannot happen within one host's answer): keep the first.
      if (std::find(changes.added_vms.begin(), changes.added_vms.end(), definition.name) !=
          changes.added_vms.end()) {
        continue;
      }
      model::Vm vm;
      vm.name = definition.name;
      vm.host = domain.running ? host : model::kNoIndex;
      vm.cpus = definition.vcpus;
      vm.memory_mib = definition.memory_mib;
      vm.networks = std::move(networks);
      vm.first_disk = static_cast<model::DiskIndex>(cloud.disks.size());
      auto vm_index = static_cast<model::VmIndex>(cloud.vms.size());
      for (const auto& disk : definition.disks) {
        if (disk.cdrom) continue;
        model::Disk entry;
        entry.name = definition.name + "/" + (disk.target_device.empty() ? disk.source : disk.target_device);
        entry.array = array_of ? array_of(disk) : model::kNoIndex;
        entry.vm = vm_index;
        cloud.disks.push_back(std::move(entry));
        ++vm.disk_count;
      }
      cloud.vms.push_back(std::move(vm));
      changes.added_vms.push_back(definition.name);
      continue;
    }
    model::Vm& vm = cloud.vms[known];
    bool changed = false;
    auto update = [&changed](auto& field, auto value) {
      if (field != value) {
        field = std::move(value);
        changed = true;
      }
    };
    update(vm.cpus, definition.vcpus);
    update(vm.memory_mib, definition.memory_mib);
    update(vm.networks, std::move(networks));
    if (domain.running) update(vm.host, host);
    if (changed) changes.updated_vms.push_back(definition.name);
  }
  if (!changes.added_vms.empty() || !changes.updated_vms.empty()) cloud.rebuild_indexes();
  return changes;
}

}  // namespace revive::drivers
