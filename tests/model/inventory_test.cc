#include <gtest/gtest.h>

#include <filesystem>

#include "model/inventory.h"
#include "support/test_support.h"

namespace revive::model {
namespace {

using revive::testing::shared_dir;

TEST(Inventory, LoadsEveryScenario) {
  int loaded = 0;
  for (const auto& entry : std::filesystem::directory_iterator(shared_dir() / "scenarios")) {
    auto path = entry.path() / "inventory.yaml";
    if (!std::filesystem::exists(path)) continue;
    SCOPED_TRACE(path.string());
    EXPECT_NO_THROW(load_inventory_file(path.string()));
    ++loaded;
  }
  EXPECT_GE(loaded, 2);
}

TEST(Inventory, LoadsPod16) {
  Cloud cloud = load_inventory_file((shared_dir() / "scenarios/pod-16/inventory.yaml").string());
  EXPECT_EQ(cloud.hosts.size(), 16u);
  EXPECT_EQ(cloud.vms.size(), 461u);
  EXPECT_EQ(cloud.arrays.size(), 2u);
  EXPECT_EQ(cloud.endpoints.size(), 1u);
  EXPECT_EQ(cloud.switches.size(), 4u);
  EXPECT_DOUBLE_EQ(cloud.policy.cpu_overcommit, 4.0);
  HostIndex host = cloud.find_host("host-0002");
  ASSERT_NE(host, kNoIndex);
  EXPECT_EQ(cloud.hosts[host].cpus, 128u);
  EXPECT_EQ(cloud.hosts[host].memory_mib, 1048576u);
  EXPECT_EQ(cloud.scope_value(host, cloud.symbols.find("license")), cloud.symbols.find("db"));
  EXPECT_EQ(cloud.hosts[host].network_switch, cloud.find_switch("sw-2"));
  VmIndex vm = cloud.find_vm("vm-000001");
  ASSERT_NE(vm, kNoIndex);
  EXPECT_EQ(cloud.vms[vm].host, cloud.find_host("host-0001"));
  EXPECT_EQ(cloud.vms[vm].priority, Priority::critical);
  EXPECT_EQ(cloud.vms[vm].disk_count, 6u);
  EXPECT_EQ(cloud.vms[vm].dirty_mib_s, 100u);
  EXPECT_EQ(cloud.disks[cloud.find_disk("vm-000001-d3")].size_gib, 100u);
}

}  // namespace
}  // namespace revive::model
