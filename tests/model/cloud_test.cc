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

}  // namespace
}  // namespace revive::model
