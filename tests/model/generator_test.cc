#include "model/generator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <set>
#include <sstream>

#include "model/inventory.h"

namespace revive::model {
namespace {

std::string written(const Cloud& cloud) {
  std::ostringstream out;
  write_inventory(cloud, out);
  return out.str();
}

GeneratorOptions options_for(std::uint32_t hosts, std::uint32_t vms, std::uint64_t seed) {
  GeneratorOptions options;
  options.hosts = hosts;
  options.vms = vms;
  options.seed = seed;
  return options;
}

TEST(Generator, SameSeedSameBytesOtherSeedOtherBytes) {
  const std::string first = written(generate_cloud(options_for(64, 1600, 7)));
  EXPECT_EQ(first, written(generate_cloud(options_for(64, 1600, 7))));
  EXPECT_NE(first, written(generate_cloud(options_for(64, 1600, 8))));
}

// The properties every generated cloud has, checked on the model.
void expect_sound(const Cloud& cloud, const GeneratorOptions& options) {
  SCOPED_TRACE(::testing::Message() << options.hosts << " hosts, " << options.vms << " VMs, seed "
                                    << options.seed);
  ASSERT_EQ(cloud.hosts.size(), options.hosts);
  ASSERT_EQ(cloud.vms.size(), options.vms);
  const Symbol rack = cloud.symbols.find("rack");
  const Symbol license = cloud.symbols.find("license");
  ASSERT_NE(rack, kNoIndex);

  // Capacity: no host over its usable cpu or memory; spares empty.
  std::vector<double> cpus_used(cloud.hosts.size(), 0);
  std::vector<std::uint64_t> memory_used(cloud.hosts.size(), 0);
  std::uint64_t max_host_memory = 0;
  for (const Host& host : cloud.hosts) max_host_memory = std::max(max_host_memory, host.memory_mib);
  for (VmIndex v = 0; v < cloud.vms.size(); ++v) {
    const Vm& vm = cloud.vms[v];
    ASSERT_LT(vm.host, cloud.hosts.size());
    cpus_used[vm.host] += vm.cpus;
    memory_used[vm.host] += vm.memory_mib;
    EXPECT_FALSE(cloud.hosts[vm.host].reserved) << vm.name;
    EXPECT_LE(vm.memory_mib, max_host_memory / 4) << vm.name;
    for (Label label : vm.require_labels) EXPECT_TRUE(cloud.has_label(vm.host, label)) << vm.name;
    for (Symbol network : vm.networks) EXPECT_TRUE(cloud.has_network(vm.host, network)) << vm.name;
    EXPECT_GE(vm.disk_count, 1u);
    EXPECT_LE(vm.disk_count, 8u);
    for (std::size_t d = vm.first_disk; d < cloud.vm_disk_end(v); ++d) {
      EXPECT_EQ(cloud.disks[d].vm, v);
      EXPECT_TRUE(cloud.reaches_array(vm.host, cloud.disks[d].array)) << cloud.disks[d].name;
    }
    EXPECT_GE(vm.dirty_mib_s, 5u);
    EXPECT_LE(vm.dirty_mib_s, 500u);
    for (VmIndex waited : vm.after) {
      EXPECT_NE(waited, v);
      // Chains are db -> app -> web: whoever is waited for waits at most for VMs that wait for nothing.
      for (VmIndex further : cloud.vms[waited].after) EXPECT_TRUE(cloud.vms[further].after.empty());
    }
  }
  std::uint64_t active_memory = 0, vm_memory = 0;
  for (HostIndex h = 0; h < cloud.hosts.size(); ++h) {
    EXPECT_LE(cpus_used[h], cloud.usable_cpus(h)) << cloud.hosts[h].name;
    EXPECT_LE(static_cast<double>(memory_used[h]), cloud.usable_memory_mib(h)) << cloud.hosts[h].name;
    if (!cloud.hosts[h].reserved) active_memory += cloud.hosts[h].memory_mib;
    vm_memory += memory_used[h];
  }
  const double load = static_cast<double>(vm_memory) / static_cast<double>(active_memory);
  EXPECT_GE(load, 0.60);
  EXPECT_LE(load, 0.75);

  // Groups hold over the initial placement.
  for (const Group& group : cloud.groups) {
    ASSERT_GE(group.members.size(), 2u) << group.name;
    ASSERT_LE(group.members.size(), 3u) << group.name;
    std::set<Index> scope_values;
    for (VmIndex member : group.members)
      scope_values.insert(cloud.scope_value(cloud.vms[member].host, group.scope));
    if (group.kind == GroupKind::anti_affinity) {
      EXPECT_EQ(scope_values.size(), group.members.size()) << group.name;
      EXPECT_TRUE(group.scope == cloud.scope_host() || group.scope == rack) << group.name;
    } else {
      EXPECT_EQ(scope_values.size(), 1u) << group.name;
    }
  }

  // Licensed hosts: a quarter.
  std::size_t licensed = 0;
  for (const Host& host : cloud.hosts) {
    licensed += std::any_of(host.labels.begin(), host.labels.end(),
                            [&](const Label& label) { return label.key == license; });
  }
  EXPECT_EQ(licensed, options.hosts / 4 + (options.hosts % 4 >= 2 ? 1 : 0));
}

TEST(Generator, CloudsAreSoundAcrossSizesAndSeeds) {
  for (std::uint64_t seed : {1, 2, 3}) {
    for (auto [hosts, vms] : std::array<std::pair<std::uint32_t, std::uint32_t>, 5>{
             {{4, 60}, {8, 150}, {16, 461}, {64, 1600}, {500, 10000}}}) {
      GeneratorOptions options = options_for(hosts, vms, seed);
      expect_sound(generate_cloud(options), options);
    }
  }
}

TEST(Generator, LargeCloudIsSoundWithTheAskedMix) {
  const GeneratorOptions options = options_for(5000, 100000, 1);
  const Cloud cloud = generate_cloud(options);
  expect_sound(cloud, options);

  std::array<std::size_t, kPriorityCount> by_priority{};
  std::size_t unprotected = 0, licensed = 0, with_after = 0, small = 0;
  for (const Vm& vm : cloud.vms) {
    ++by_priority[static_cast<int>(vm.priority)];
    unprotected += !vm.protect;
    licensed += !vm.require_labels.empty();
    with_after += !vm.after.empty();
    small += vm.cpus <= 8 && vm.memory_mib <= 32 * 1024;
  }
  const double total = static_cast<double>(cloud.vms.size());
  EXPECT_NEAR(by_priority[0] / total, 0.10, 0.02);
  EXPECT_NEAR(by_priority[1] / total, 0.20, 0.02);
  EXPECT_NEAR(by_priority[2] / total, 0.40, 0.02);
  EXPECT_NEAR(by_priority[3] / total, 0.30, 0.02);
  EXPECT_GT(small / total, 0.80);  // most VMs 1-8 vCPU, up to 32 GiB
  EXPECT_GT(unprotected, 0u);
  EXPECT_GT(licensed, 0u);
  EXPECT_GT(with_after, 0u);

  std::size_t anti_host = 0, anti_rack = 0, affinity = 0, reserved = 0;
  for (const Group& group : cloud.groups) {
    if (group.kind == GroupKind::affinity) {
      ++affinity;
    } else if (group.scope == cloud.scope_host()) {
      ++anti_host;
    } else {
      ++anti_rack;
    }
  }
  for (const Host& host : cloud.hosts) reserved += host.reserved;
  EXPECT_GT(anti_host, 0u);
  EXPECT_GT(anti_rack, 0u);
  EXPECT_GT(affinity, 0u);
  EXPECT_EQ(reserved, 100u);
  EXPECT_EQ(cloud.endpoints.size(), 100u);
  EXPECT_EQ(cloud.switches.size(), 313u);  // one per rack, one rack per 16 hosts
  EXPECT_EQ(cloud.hosts.front().name, "host-0001");
  EXPECT_EQ(cloud.vms.front().name, "vm-000001");
  EXPECT_EQ(cloud.disks.front().name, "vm-000001-d1");
}

TEST(Generator, EmptyCloudOfHostsIsFine) {
  const Cloud cloud = generate_cloud(options_for(3, 0, 1));
  EXPECT_EQ(cloud.hosts.size(), 3u);
  EXPECT_TRUE(cloud.vms.empty());
}

std::string error_option(const GeneratorOptions& options) {
  try {
    generate_cloud(options);
  } catch (const GeneratorError& error) {
    return error.option();
  }
  return "(no error)";
}

TEST(Generator, RefusesImpossibleOptionsNamingTheOption) {
  EXPECT_EQ(error_option(options_for(0, 10, 1)), "hosts");
  EXPECT_EQ(error_option(options_for(10, 100000, 1)), "vms");
  EXPECT_EQ(error_option(options_for(10, 20000, 1)), "vms");  // past the cheap bound, found while sizing
  GeneratorOptions racks = options_for(4, 10, 1);
  racks.racks = 5;
  EXPECT_EQ(error_option(racks), "racks");
  racks.racks = 0;
  EXPECT_EQ(error_option(racks), "racks");
  GeneratorOptions arrays = options_for(4, 10, 1);
  arrays.arrays = 0;
  EXPECT_EQ(error_option(arrays), "arrays");
  GeneratorOptions spares = options_for(4, 10, 1);
  spares.reserved_hosts = 4;
  EXPECT_EQ(error_option(spares), "reserved-hosts");
  GeneratorOptions load = options_for(4, 10, 1);
  load.memory_load = 0.95;
  EXPECT_EQ(error_option(load), "memory-load");
  GeneratorOptions dirty = options_for(4, 10, 1);
  dirty.dirty_rate_scale = 0.0;
  EXPECT_EQ(error_option(dirty), "dirty-rate-scale");
}

TEST(Generator, DirtyRateScaleMultipliesTheRatesAndChangesNothingElse) {
  GeneratorOptions plain = options_for(64, 1600, 5);
  GeneratorOptions busy = plain;
  busy.dirty_rate_scale = 3.0;
  Cloud a = generate_cloud(plain);
  Cloud b = generate_cloud(busy);
  ASSERT_EQ(a.vms.size(), b.vms.size());
  for (std::size_t v = 0; v < a.vms.size(); ++v) {
    EXPECT_EQ(b.vms[v].dirty_mib_s, 3 * a.vms[v].dirty_mib_s) << a.vms[v].name;
    EXPECT_EQ(b.vms[v].memory_mib, a.vms[v].memory_mib);
    EXPECT_EQ(b.vms[v].host, a.vms[v].host);
  }
}

}  // namespace
}  // namespace revive::model
