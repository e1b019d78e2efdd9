// exec/bound.h: the chain with the preparation from the declaration and the start after the fence, `after`
// chains, later releases, and the tight form never below the spec's.
#include "exec/bound.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "model/inventory.h"
#include "support/test_support.h"

namespace revive::exec {
namespace {

const model::Cloud& pod16() {
  static const model::Cloud cloud =
      model::load_inventory_file((testing::examples_dir() / "pod-16" / "inventory.yaml").string());
  return cloud;
}

// Unmap 2, map 4, net 3, start 60: a VM's preparation is 6 s (one disk or more, each 2 + 4).
double fixed(env::StepKind kind, model::Index, model::DiskIndex) {
  switch (kind) {
    case env::StepKind::disk_unmap:
      return 2.0;
    case env::StepKind::disk_map:
      return 4.0;
    case env::StepKind::net_config:
      return 3.0;
    default:
      return 60.0;
  }
}

// Two VMs of host-0006 with disks, onto a host with a switch.
std::vector<BoundVm> two_vms(double declared, double fenced) {
  const auto& cloud = pod16();
  auto source = cloud.find_host("host-0006");
  auto target = cloud.find_host("host-0001");
  std::vector<BoundVm> vms;
  for (model::VmIndex v = 0; v < cloud.vms.size() && vms.size() < 2; ++v) {
    if (cloud.vms[v].host == source && cloud.vm_disk_end(v) > cloud.vms[v].first_disk)
      vms.push_back({v, target, declared, fenced, {}});
  }
  return vms;
}

TEST(LowerBound, ThePreparationRunsFromTheDeclarationAndTheStartWaitsForTheFence) {
  // Declared at 5, fenced at 13: preparation (6 s) ends at 11, the start at 13 + 60.
  auto vms = two_vms(5.0, 13.0);
  ASSERT_EQ(vms.size(), 2u);
  auto bound = lower_bound(pod16(), vms, fixed);
  EXPECT_DOUBLE_EQ(bound.spec_s, 73.0);
  EXPECT_GE(bound.tight_s, bound.spec_s);
  // Fenced early (at 6): the preparation binds, 5 + 6 + 60.
  EXPECT_DOUBLE_EQ(lower_bound(pod16(), two_vms(5.0, 6.0), fixed).spec_s, 71.0);
}

TEST(LowerBound, AnAfterChainAddsTheStartsItWaitsFor) {
  auto vms = two_vms(5.0, 13.0);
  ASSERT_EQ(vms.size(), 2u);
  vms[1].after = {0};
  auto bound = lower_bound(pod16(), vms, fixed);
  EXPECT_DOUBLE_EQ(bound.spec_s, 133.0);  // 13 + 60, then + 60
  EXPECT_NE(bound.spec_binding.find("after chain"), std::string::npos) << bound.spec_binding;
  // A cycle does not hang the bound (the edge that closes it is dropped).
  vms[0].after = {1};
  EXPECT_GE(lower_bound(pod16(), vms, fixed).spec_s, 73.0);
}

TEST(LowerBound, TheTightFormCountsTheStartAfterTheLastMapOfABindingArray) {
  // One array at a time for many VMs: the spec's term is r + work; the tight one adds the start that must
  // follow the array's last map.
  model::Cloud cloud = pod16();
  for (auto& array : cloud.arrays) array.max_parallel = 1;
  auto source = cloud.find_host("host-0006");
  std::vector<BoundVm> vms;
  model::HostIndex target = 0;
  for (model::VmIndex v = 0; v < cloud.vms.size(); ++v) {
    if (cloud.vms[v].host != source) continue;
    vms.push_back({v, target, 5.0, 13.0, {}});
    target = (target + 1) % 4;
  }
  ASSERT_GT(vms.size(), 10u);
  auto bound = lower_bound(cloud, vms, fixed);
  ASSERT_NE(bound.spec_binding.find("array"), std::string::npos) << bound.spec_binding;
  EXPECT_DOUBLE_EQ(bound.tight_s, bound.spec_s + 60.0);
}

TEST(LowerBound, ALaterReleaseCountsItsOwnWorkFromItsOwnDeclaration) {
  model::Cloud cloud = pod16();
  for (auto& array : cloud.arrays) array.max_parallel = 1;
  auto early = cloud.find_host("host-0006");
  auto late = cloud.find_host("host-0015");
  std::vector<BoundVm> vms;
  std::vector<double> late_work(cloud.arrays.size(), 0.0);  // per array: unmap + map of the late disks
  for (model::VmIndex v = 0; v < cloud.vms.size(); ++v) {
    if (cloud.vms[v].host == early) vms.push_back({v, 0, 0.0, 8.0, {}});
    if (cloud.vms[v].host == late) {
      vms.push_back({v, 1, 500.0, 508.0, {}});
      for (auto d = cloud.vms[v].first_disk; d < cloud.vm_disk_end(v); ++d)
        late_work[cloud.disks[d].array] += 6.0;
    }
  }
  double busiest = *std::max_element(late_work.begin(), late_work.end());
  ASSERT_GT(busiest, 6.0);
  // The late host's work on its busiest array cannot begin before 500 s, and a start follows it.
  EXPECT_GE(lower_bound(cloud, vms, fixed).tight_s, 500.0 + busiest + 60.0 - 1e-9);
}

}  // namespace
}  // namespace revive::exec
