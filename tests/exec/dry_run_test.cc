#include "exec/dry_run.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace revive::exec {
namespace {

DryVm start_only(double start_s, std::uint32_t resource, std::uint32_t host) {
  DryVm vm;
  vm.start_s = start_s;
  vm.chain_s = start_s;
  vm.start_resource = resource;
  vm.start_host = host;
  return vm;
}

// One target host restarting one VM at a time: backward from the target the shortest start is placed last,
// so the longest must begin first, and each begins as late as the ones after it allow.
TEST(DryRunLatestBegins, ABindingHostServesItsLongStartsFirstAndLeavesTheShortOnesForTheEnd) {
  DryRun dry_run({1000}, 1, 1);
  std::vector<DryVm> vms{start_only(20, 0, 0), start_only(10, 0, 0), start_only(30, 0, 0)};
  auto latest = dry_run.latest_begins(vms, 60.0);
  ASSERT_EQ(latest.size(), 3u);
  EXPECT_DOUBLE_EQ(latest[1], 50.0);  // 10 s, last
  EXPECT_DOUBLE_EQ(latest[0], 30.0);  // 20 s, before it
  EXPECT_DOUBLE_EQ(latest[2], 0.0);   // 30 s, first
  // Deadlines that follow them meet the target exactly.
  auto finish = dry_run.finish_times(vms, latest);
  EXPECT_DOUBLE_EQ(std::max({finish[0], finish[1], finish[2]}), 60.0);
}

// A serial switch feeds the starts: a VM's net_config is due when its start is, so the switch serves the VM
// with the long start first; a margin moves a VM's dues earlier by that much.
TEST(DryRunLatestBegins, PreparationOnASerialSwitchIsDueWhenItsStartIsAndMarginsComeOff) {
  DryRun dry_run({1, 1000}, 100, 2);  // resource 0: a switch of one slot, 1: an endpoint without contention
  std::vector<DryVm> vms{start_only(50, 1, 0), start_only(20, 1, 1)};
  for (auto& vm : vms) {
    vm.net_resource = 0;
    vm.net_s = 5;
  }
  auto latest = dry_run.latest_begins(vms, 100.0);
  EXPECT_DOUBLE_EQ(latest[0], 45.0);  // start due at 50, net_config 45-50
  EXPECT_DOUBLE_EQ(latest[1], 75.0);  // start due at 80, net_config 75-80
  vms[1].margin_s = 10;
  latest = dry_run.latest_begins(vms, 100.0);
  EXPECT_DOUBLE_EQ(latest[1], 65.0);
  // A map due at its start, its unmap before it on the same array.
  DryRun arrays({1, 1000}, 100, 1);
  DryVm disk_vm = start_only(10, 1, 0);
  disk_vm.disks.push_back(DryDisk{0, 2.0, 4.0, true, true});
  std::vector<DryVm> one{disk_vm};
  EXPECT_DOUBLE_EQ(arrays.latest_begins(one, 30.0)[0], 14.0);  // unmap 14-16, map 16-20, start 20-30
}

}  // namespace
}  // namespace revive::exec
