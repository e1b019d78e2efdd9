#include <gtest/gtest.h>

#include "model/cloud.h"

namespace revive::model {
namespace {

TEST(Cloud, LooksUpByNameAndScope) {
  Cloud cloud;
  Host host;
  host.name = "host-01";
  host.cpus = 8;
  host.memory_mib = 1024;
  host.labels = {{cloud.symbols.intern("rack"), cloud.symbols.intern("r1")}};
  cloud.hosts.push_back(host);
  Vm vm;
  vm.name = "vm-1";
  vm.host = 0;
  cloud.vms.push_back(vm);
  cloud.rebuild_indexes();
  EXPECT_EQ(cloud.find_host("host-01"), 0u);
  EXPECT_EQ(cloud.find_host("nope"), kNoIndex);
  EXPECT_EQ(cloud.find_vm("vm-1"), 0u);
  ASSERT_EQ(cloud.vms_on(0).size(), 1u);
  EXPECT_EQ(cloud.scope_value(0, cloud.scope_host()), 0u);
  EXPECT_EQ(cloud.scope_value(0, cloud.symbols.find("rack")), cloud.symbols.find("r1"));
  EXPECT_EQ(cloud.scope_value(0, cloud.symbols.intern("zone")), kNoIndex);
}

// Moving one VM keeps the per-host lists what a rebuild makes of them (sorted, the VM on its new host only),
// to a host, between hosts and to none.
TEST(Cloud, MovingOneVmKeepsThePerHostListsOfARebuild) {
  Cloud cloud;
  for (const char* name : {"h1", "h2", "h3"}) {
    Host host;
    host.name = name;
    cloud.hosts.push_back(host);
  }
  for (int i = 0; i < 7; ++i) {
    Vm vm;
    vm.name = "vm" + std::to_string(i);
    vm.host = static_cast<HostIndex>(i % 3);
    cloud.vms.push_back(vm);
  }
  cloud.rebuild_indexes();
  Cloud rebuilt = cloud;
  for (auto [vm, host] :
       std::vector<std::pair<VmIndex, HostIndex>>{{3, 1}, {0, 2}, {6, 1}, {4, kNoIndex}, {4, 0}, {5, 2}}) {
    cloud.move_vm(vm, host);
    rebuilt.vms[vm].host = host;
    rebuilt.rebuild_indexes();
    for (HostIndex h = 0; h < 3; ++h)
      EXPECT_EQ(cloud.vms_on(h), rebuilt.vms_on(h)) << "vm " << vm << " host " << h;
    EXPECT_EQ(cloud.vms[vm].host, host);
  }
}

// A rebuild after renaming, reordering, adding or removing entities sees the change, although names that
// did not change are not hashed again; a rebuild after moving a VM updates the per-host lists.
TEST(Cloud, RebuildIndexesFollowsRenamesReordersAndMoves) {
  Cloud cloud;
  for (const char* name : {"h1", "h2"}) {
    Host host;
    host.name = name;
    cloud.hosts.push_back(host);
  }
  for (const char* name : {"ab", "c", "de"}) {
    Vm vm;
    vm.name = name;
    vm.host = 0;
    cloud.vms.push_back(vm);
  }
  cloud.rebuild_indexes();
  EXPECT_EQ(cloud.vms_on(0), (std::vector<VmIndex>{0, 1, 2}));
  cloud.vms[1].host = 1;
  cloud.rebuild_indexes();
  EXPECT_EQ(cloud.vms_on(0), (std::vector<VmIndex>{0, 2}));
  EXPECT_EQ(cloud.vms_on(1), (std::vector<VmIndex>{1}));
  // Same total length, same count: only the bytes differ.
  cloud.vms[0].name = "ba";
  cloud.rebuild_indexes();
  EXPECT_EQ(cloud.find_vm("ba"), 0u);
  EXPECT_EQ(cloud.find_vm("ab"), kNoIndex);
  // Same bytes in a row, other boundaries: "ab" "c" -> "a" "bc".
  cloud.vms[0].name = "a";
  cloud.vms[1].name = "bc";
  cloud.rebuild_indexes();
  EXPECT_EQ(cloud.find_vm("a"), 0u);
  EXPECT_EQ(cloud.find_vm("bc"), 1u);
  EXPECT_EQ(cloud.find_vm("c"), kNoIndex);
  std::swap(cloud.vms[0], cloud.vms[2]);
  cloud.rebuild_indexes();
  EXPECT_EQ(cloud.find_vm("de"), 0u);
  EXPECT_EQ(cloud.find_vm("a"), 2u);
  cloud.vms.pop_back();
  cloud.rebuild_indexes();
  EXPECT_EQ(cloud.find_vm("a"), kNoIndex);
  EXPECT_EQ(cloud.vms_on(0), (std::vector<VmIndex>{0}));
  // A copy keeps working lookups and rebuilds on its own.
  Cloud copy = cloud;
  copy.hosts[1].name = "h3";
  copy.rebuild_indexes();
  EXPECT_EQ(copy.find_host("h3"), 1u);
  EXPECT_EQ(cloud.find_host("h2"), 1u);
  EXPECT_EQ(copy.find_vm("de"), 0u);
}

}  // namespace
}  // namespace revive::model
