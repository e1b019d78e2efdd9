// Hand-made clouds for planner tests, by name: builder.host({.name = "h1", .cpus = 8}).vm({.name = "a", .host
// = "h1"}).group(...).build(). Names are resolved in build(), so entities can be declared in any order; an
// unknown name throws std::invalid_argument. Header-only, for tests.
#pragma once

// Specs are meant to be written with designated initializers that leave most fields at their defaults; GCC's
// -Wmissing-field-initializers would flag every such use, so it is off for the test files that include this.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "model/cloud.h"

namespace revive::plan::testing {

using LabelSpec = std::vector<std::pair<std::string, std::string>>;

struct HostSpec {
  std::string name;
  std::uint32_t cpus = 16;
  std::uint64_t memory_mib = 64 * 1024;
  LabelSpec labels;
  std::string arch;  // empty: x86_64
  std::vector<std::string> networks;
  std::vector<std::string> arrays;
  bool reserved = false;
  model::HostState state = model::HostState::up;
};

struct VmSpec {
  std::string name;
  std::string host;
  std::uint32_t cpus = 1;
  std::uint64_t memory_mib = 1024;
  model::Priority priority = model::Priority::medium;
  bool protect = true;
  std::vector<std::string> networks;
  std::vector<std::string> disk_arrays;  // one disk per entry, on that array
  LabelSpec require_labels;
  std::vector<std::string> after;
};

class CloudBuilder {
 public:
  CloudBuilder& overcommit(double cpu, double memory) {
    cloud_.policy.cpu_overcommit = cpu;
    cloud_.policy.memory_overcommit = memory;
    return *this;
  }
  CloudBuilder& array(const std::string& name) {
    cloud_.arrays.push_back({name, 4});
    return *this;
  }
  CloudBuilder& host(HostSpec spec) {
    hosts_.push_back(std::move(spec));
    return *this;
  }
  CloudBuilder& vm(VmSpec spec) {
    vms_.push_back(std::move(spec));
    return *this;
  }
  CloudBuilder& group(const std::string& name, model::GroupKind kind, const std::string& scope,
                      std::vector<std::string> members) {
    groups_.push_back({name, kind, scope, std::move(members)});
    return *this;
  }

  model::Cloud build() {
    model::Cloud cloud = cloud_;
    for (const HostSpec& spec : hosts_) {
      model::Host host;
      host.name = spec.name;
      host.cpus = spec.cpus;
      host.memory_mib = spec.memory_mib;
      host.arch = spec.arch.empty() ? cloud.default_arch() : cloud.symbols.intern(spec.arch);
      host.labels = labels(cloud, spec.labels);
      for (const std::string& network : spec.networks) host.networks.push_back(cloud.symbols.intern(network));
      std::sort(host.networks.begin(), host.networks.end());
      for (const std::string& array : spec.arrays) host.arrays.push_back(array_index(cloud, array));
      std::sort(host.arrays.begin(), host.arrays.end());
      host.reserved = spec.reserved;
      host.state = spec.state;
      cloud.hosts.push_back(std::move(host));
    }
    cloud.rebuild_indexes();
    for (const VmSpec& spec : vms_) {
      model::Vm vm;
      vm.name = spec.name;
      vm.host = must(cloud.find_host(spec.host), spec.host);
      vm.cpus = spec.cpus;
      vm.memory_mib = spec.memory_mib;
      vm.priority = spec.priority;
      vm.protect = spec.protect;
      for (const std::string& network : spec.networks) vm.networks.push_back(cloud.symbols.intern(network));
      std::sort(vm.networks.begin(), vm.networks.end());
      vm.require_labels = labels(cloud, spec.require_labels);
      vm.first_disk = static_cast<model::DiskIndex>(cloud.disks.size());
      for (const std::string& array : spec.disk_arrays) {
        cloud.disks.push_back({spec.name + "-disk" + std::to_string(vm.disk_count), array_index(cloud, array),
                               10, static_cast<model::VmIndex>(cloud.vms.size())});
        ++vm.disk_count;
      }
      cloud.vms.push_back(std::move(vm));
    }
    cloud.rebuild_indexes();
    for (std::size_t v = 0; v < vms_.size(); ++v) {
      for (const std::string& name : vms_[v].after)
        cloud.vms[v].after.push_back(must(cloud.find_vm(name), name));
    }
    for (const GroupSpec& spec : groups_) {
      model::Group group;
      group.name = spec.name;
      group.kind = spec.kind;
      group.scope = spec.scope == "host" ? cloud.scope_host() : cloud.symbols.intern(spec.scope);
      for (const std::string& member : spec.members)
        group.members.push_back(must(cloud.find_vm(member), member));
      cloud.groups.push_back(std::move(group));
    }
    cloud.rebuild_indexes();
    return cloud;
  }

 private:
  struct GroupSpec {
    std::string name;
    model::GroupKind kind;
    std::string scope;
    std::vector<std::string> members;
  };

  static model::Index must(model::Index index, const std::string& name) {
    if (index == model::kNoIndex) throw std::invalid_argument("CloudBuilder: unknown name " + name);
    return index;
  }
  static model::ArrayIndex array_index(const model::Cloud& cloud, const std::string& name) {
    for (model::ArrayIndex a = 0; a < cloud.arrays.size(); ++a) {
      if (cloud.arrays[a].name == name) return a;
    }
    throw std::invalid_argument("CloudBuilder: unknown array " + name);
  }
  static std::vector<model::Label> labels(model::Cloud& cloud, const LabelSpec& spec) {
    std::vector<model::Label> result;
    for (const auto& [key, value] : spec)
      result.push_back({cloud.symbols.intern(key), cloud.symbols.intern(value)});
    std::sort(result.begin(), result.end(),
              [](const model::Label& a, const model::Label& b) { return a.key < b.key; });
    return result;
  }

  model::Cloud cloud_;
  std::vector<HostSpec> hosts_;
  std::vector<VmSpec> vms_;
  std::vector<GroupSpec> groups_;
};

}  // namespace revive::plan::testing
