// The random cloud generator the property tests rely on: deterministic per seed, valid as the inventory spec
// requires, and varied enough to exercise every constraint.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "plan/support/random_cloud.h"

namespace revive::plan::testing {
namespace {

using model::Cloud;
using model::HostIndex;
using model::VmIndex;

std::string fingerprint(const RandomInstance& instance) {
  const Cloud& cloud = instance.cloud;
  std::string text;
  for (const auto& host : cloud.hosts) {
    text += host.name + ":" + std::to_string(host.cpus) + "/" + std::to_string(host.memory_mib) + "/" +
            cloud.symbols.name(host.arch) + "/" + std::to_string(host.labels.size()) + "/" +
            std::to_string(host.networks.size()) + std::to_string(static_cast<int>(host.state)) + ";";
  }
  for (const auto& vm : cloud.vms) {
    text += vm.name + "@" + std::to_string(vm.host) + ":" + std::to_string(vm.cpus) + "/" +
            std::to_string(vm.memory_mib) + "/" + std::string(model::to_string(vm.priority)) +
            std::to_string(vm.after.size()) + ";";
  }
  for (const auto& group : cloud.groups) text += group.name + std::to_string(group.members.size()) + ";";
  for (HostIndex h : instance.request.failed_hosts) text += "F" + std::to_string(h);
  for (HostIndex h : instance.request.evacuated_hosts) text += "E" + std::to_string(h);
  for (HostIndex h : instance.request.excluded_hosts) text += "X" + std::to_string(h);
  return text;
}

TEST(RandomCloud, IsDeterministicPerSeed) {
  for (std::uint64_t seed : {1u, 2u, 77u}) {
    EXPECT_EQ(fingerprint(random_instance(seed)), fingerprint(random_instance(seed)));
  }
  EXPECT_NE(fingerprint(random_instance(1)), fingerprint(random_instance(2)));
}

void expect_valid(const RandomInstance& instance, std::uint64_t seed) {
  const Cloud& cloud = instance.cloud;
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::vector<double> cpu(cloud.hosts.size()), memory(cloud.hosts.size());
  for (VmIndex v = 0; v < cloud.vms.size(); ++v) {
    const model::Vm& vm = cloud.vms[v];
    ASSERT_LT(vm.host, cloud.hosts.size());
    const model::Host& host = cloud.hosts[vm.host];
    cpu[vm.host] += vm.cpus;
    memory[vm.host] += static_cast<double>(vm.memory_mib);
    for (auto network : vm.networks) EXPECT_TRUE(cloud.has_network(vm.host, network));
    for (auto label : vm.require_labels) EXPECT_TRUE(cloud.has_label(vm.host, label));
    for (std::size_t d = vm.first_disk; d < cloud.vm_disk_end(v); ++d) {
      EXPECT_EQ(cloud.disks[d].vm, v);
      EXPECT_TRUE(cloud.reaches_array(vm.host, cloud.disks[d].array));
    }
    for (VmIndex dependency : vm.after) EXPECT_LT(dependency, v);  // so no cycles
    EXPECT_FALSE(host.reserved);
  }
  for (HostIndex h = 0; h < cloud.hosts.size(); ++h) {
    EXPECT_LE(cpu[h], cloud.usable_cpus(h));
    EXPECT_LE(memory[h], cloud.usable_memory_mib(h));
    EXPECT_NE(cloud.scope_value(h, cloud.symbols.find("rack")), model::kNoIndex);
    EXPECT_NE(cloud.scope_value(h, cloud.symbols.find("zone")), model::kNoIndex);
  }
  for (const model::Group& group : cloud.groups) {
    std::set<model::Index> values;
    for (VmIndex member : group.members)
      values.insert(cloud.scope_value(cloud.vms[member].host, group.scope));
    if (group.kind == model::GroupKind::affinity) {
      EXPECT_EQ(values.size(), 1u) << group.name;
    } else {
      EXPECT_EQ(values.size(), group.members.size()) << group.name;
    }
  }
  const PlanRequest& request = instance.request;
  EXPECT_FALSE(request.failed_hosts.empty());
  std::set<HostIndex> seen;
  for (const auto* hosts : {&request.failed_hosts, &request.evacuated_hosts, &request.excluded_hosts}) {
    for (HostIndex h : *hosts) EXPECT_TRUE(seen.insert(h).second) << "host listed twice in the request";
  }
  for (HostIndex h = 0; h < cloud.hosts.size(); ++h) {
    if (cloud.hosts[h].state == model::HostState::down && !cloud.vms_on(h).empty()) {
      EXPECT_TRUE(std::count(request.failed_hosts.begin(), request.failed_hosts.end(), h))
          << "down host with VMs";
    }
  }
}

TEST(RandomCloud, IsValidAndVaried) {
  int mixed_arch = 0, reserved = 0, unprotected = 0, with_after = 0, evacuations = 0, exclusions = 0;
  std::set<std::pair<model::GroupKind, std::string>> group_kinds;
  for (std::uint64_t seed = 0; seed < 300; ++seed) {
    RandomInstance instance = random_instance(seed);
    expect_valid(instance, seed);
    const Cloud& cloud = instance.cloud;
    std::set<model::Symbol> arches;
    for (const auto& host : cloud.hosts) {
      arches.insert(host.arch);
      reserved += host.reserved;
    }
    mixed_arch += arches.size() > 1;
    for (const auto& vm : cloud.vms) {
      unprotected += !vm.protect;
      with_after += !vm.after.empty();
    }
    for (const auto& group : cloud.groups) group_kinds.insert({group.kind, cloud.symbols.name(group.scope)});
    evacuations += !instance.request.evacuated_hosts.empty();
    exclusions += !instance.request.excluded_hosts.empty();
  }
  EXPECT_GT(mixed_arch, 10);
  EXPECT_GT(reserved, 10);
  EXPECT_GT(unprotected, 10);
  EXPECT_GT(with_after, 10);
  EXPECT_GT(evacuations, 10);
  EXPECT_GT(exclusions, 10);
  EXPECT_EQ(group_kinds.size(), 6u);  // both kinds on host, rack and zone scope
}

TEST(RandomCloud, TightSmallInstancesStayWithinTheBenchmarkBounds) {
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    RandomInstance instance = random_instance(seed, tight_small_options());
    expect_valid(instance, seed);
    EXPECT_LE(instance.cloud.hosts.size(), 12u);
    EXPECT_LE(instance.cloud.vms.size(), 80u);
  }
}

}  // namespace
}  // namespace revive::plan::testing
