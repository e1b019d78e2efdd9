// The simulated world on its own: true state, fault injection, and the invariant checks that catch an engine
// that breaks the rules (these drive the interfaces directly, as a buggy engine would).
#include <gtest/gtest.h>

#include <string>

#include "model/generator.h"
#include "model/inventory.h"
#include "sim/scenario.h"
#include "sim/world.h"
#include "support/test_support.h"

namespace revive::sim {
namespace {

using revive::testing::examples_dir;

class WorldTest : public ::testing::Test {
 protected:
  WorldTest()
      : cloud_(model::load_inventory_file((examples_dir() / "pod-16/inventory.yaml").string())),
        scenario_(load_scenario_text("version: 1\nseed: 3\n", "scn.yaml", cloud_)),
        world_(cloud_, scenario_, loop_) {}

  bool has_violation(const std::string& text) const {
    for (const auto& violation : world_.violations()) {
      if (violation.find(text) != std::string::npos) return true;
    }
    return false;
  }

  // Unmaps every disk of `vm` from its host and maps it to `target`, through the storage interface.
  void move_disks(model::VmIndex vm, model::HostIndex target) {
    for (auto d = cloud_.vms[vm].first_disk; d < cloud_.vm_disk_end(vm); ++d) {
      auto array = cloud_.disks[d].array;
      world_.storage().unmap_disks(array, cloud_.vms[vm].host, {d},
                                   [this, array, target](model::DiskIndex disk, const env::OperationResult&) {
                                     world_.storage().map_disks(
                                         array, target, {disk},
                                         [](model::DiskIndex, const env::OperationResult&) {});
                                   });
    }
    loop_.run();
  }

  model::Cloud cloud_;
  Scenario scenario_;
  SimEventLoop loop_;
  SimWorld world_;
};

TEST_F(WorldTest, InitialStateMirrorsTheInventory) {
  auto vm = cloud_.find_vm("vm-000001");
  auto host = cloud_.vms[vm].host;
  EXPECT_EQ(world_.running_on(vm), std::vector<model::HostIndex>{host});
  EXPECT_EQ(world_.mapped_to(cloud_.vms[vm].first_disk), std::vector<model::HostIndex>{host});
  EXPECT_TRUE(world_.powered(host));
  EXPECT_TRUE(world_.violations().empty());
}

TEST_F(WorldTest, CrashStopsTheHostsVmsAndAFenceConfirmsIt) {
  auto vm = cloud_.find_vm("vm-000001");
  auto host = cloud_.vms[vm].host;
  world_.crash_host(host);
  EXPECT_TRUE(world_.running_on(vm).empty());
  EXPECT_FALSE(world_.fenced(host));
  bool ok = false;
  world_.fencer().fence(host, [&](const env::OperationResult& result) { ok = result.ok; });
  loop_.run();
  EXPECT_TRUE(ok);
  EXPECT_TRUE(world_.fenced(host));
  ASSERT_EQ(world_.timeline().size(), 1u);
  EXPECT_EQ(world_.timeline()[0].kind, env::StepKind::fence);
}

TEST_F(WorldTest, StartingBeforeTheSourceIsFencedIsCaught) {
  auto vm = cloud_.find_vm("vm-000001");
  auto source = cloud_.vms[vm].host;
  auto target = cloud_.find_host("host-0002");
  world_.crash_host(source);
  move_disks(vm, target);
  world_.hypervisor().start_vm(target, vm, [](const env::OperationResult&) {});
  loop_.run();
  EXPECT_TRUE(has_violation("before host-0001 (where it ran) was fenced")) << world_.violations().front();
  EXPECT_EQ(world_.double_runs(), 0u);  // a crashed host runs nothing
}

TEST_F(WorldTest, StartingWhileAnIsolatedCopyRunsIsADoubleRun) {
  auto vm = cloud_.find_vm("vm-000001");
  auto source = cloud_.vms[vm].host;
  auto target = cloud_.find_host("host-0002");
  world_.isolate_host(source);
  EXPECT_EQ(world_.running_on(vm).size(), 1u);  // isolated: still running
  move_disks(vm, target);
  world_.hypervisor().start_vm(target, vm, [](const env::OperationResult&) {});
  loop_.run();
  EXPECT_EQ(world_.double_runs(), 1u);
  EXPECT_TRUE(has_violation("while it still runs on host-0001"));
  EXPECT_EQ(world_.running_on(vm).size(), 2u);
}

TEST_F(WorldTest, StartingWithDisksNotMovedIsCaught) {
  auto vm = cloud_.find_vm("vm-000001");
  auto source = cloud_.vms[vm].host;
  auto target = cloud_.find_host("host-0002");
  world_.crash_host(source);
  world_.fencer().fence(source, [](const env::OperationResult&) {});
  loop_.run();
  world_.hypervisor().start_vm(target, vm, [](const env::OperationResult&) {});
  loop_.run();
  EXPECT_TRUE(has_violation("before its disk vm-000001-d0 was mapped there"));
  EXPECT_TRUE(has_violation("while its disk vm-000001-d0 is still mapped to host-0001"));
}

TEST_F(WorldTest, ExceedingAnArrayLimitIsCaught) {
  auto array = cloud_.find_array("array-1");
  std::vector<model::DiskIndex> disks;
  for (model::DiskIndex d = 0; d < cloud_.disks.size() && disks.size() < 9; ++d) {
    if (cloud_.disks[d].array == array) disks.push_back(d);
  }
  world_.storage().unmap_disks(array, cloud_.find_host("host-0001"), disks,
                               [](model::DiskIndex, const env::OperationResult&) {});
  loop_.run();
  EXPECT_TRUE(has_violation("array array-1 runs 9 operations at once (limit 8)"));
}

TEST_F(WorldTest, CallsToAnUnreachableHostNeverAnswer) {
  auto vm = cloud_.find_vm("vm-000001");
  auto host = cloud_.find_host("host-0002");
  world_.isolate_host(host);
  bool answered = false;
  world_.hypervisor().start_vm(host, vm, [&](const env::OperationResult&) { answered = true; });
  loop_.run();
  EXPECT_FALSE(answered);
  ASSERT_FALSE(world_.timeline().empty());
  EXPECT_FALSE(world_.timeline().back().ok);
}

TEST_F(WorldTest, InjectedFailuresAndSlowdownsApply) {
  auto scenario = load_scenario_text(R"(version: 1
seed: 3
events:
  - {at: 0, fail_step: {vm: vm-000001, step: disk_unmap, times: 1}}
  - {at: 0, slow_step: {array: array-1, factor: 3, until: 100}}
)",
                                     "scn.yaml", cloud_);
  SimEventLoop loop;
  SimWorld world(cloud_, scenario, loop);
  world.arm_fail_step(scenario.events[0]);
  world.add_slowdown(scenario.events[1]);
  auto vm = cloud_.find_vm("vm-000001");
  auto disk = cloud_.vms[vm].first_disk;
  auto host = cloud_.vms[vm].host;
  std::vector<bool> results;
  for (int attempt = 0; attempt < 2; ++attempt) {
    world.storage().unmap_disks(
        cloud_.disks[disk].array, host, {disk},
        [&](model::DiskIndex, const env::OperationResult& r) { results.push_back(r.ok); });
    loop.run();
  }
  EXPECT_EQ(results, (std::vector<bool>{false, true}));
  const auto& first = world.timeline()[0];
  EXPECT_NEAR(first.end_s - first.start_s,
              3.0 * world.base_duration_s(env::StepKind::disk_unmap, vm, disk, 0), 1e-9);
  EXPECT_EQ(world.timeline()[1].attempt, 1u);
  EXPECT_TRUE(world.mapped_to(disk).empty());
}

}  // namespace
}  // namespace revive::sim

namespace revive::sim {
namespace {

// What each estimator leaves unknown of this run's durations: history the noise alone (spread x
// sqrt(1 - repeatability)), median the whole spread, clairvoyant nothing; the scheduler's what-if runs draw
// from it.
TEST(SimEstimatorNoise, HistoryLeavesTheNoiseShareOfTheSpreadMedianAllOfItClairvoyantNone) {
  model::GeneratorOptions options;
  options.hosts = 2;
  options.vms = 2;
  auto cloud = model::generate_cloud(options);
  auto scenario = load_scenario_text(
      "version: 1\nlatency: {repeatability: 0.75, vm_start: {median: 60, spread: 0.4}}\n", "scn.yaml", cloud);
  SimEventLoop loop;
  SimWorld world(cloud, scenario, loop);
  SimEstimator history(world, scenario, SimEstimator::Mode::history);
  SimEstimator median(world, scenario, SimEstimator::Mode::median);
  SimEstimator clairvoyant(world, scenario, SimEstimator::Mode::clairvoyant);
  EXPECT_DOUBLE_EQ(*history.noise_spread(env::StepKind::vm_start), 0.2);
  EXPECT_DOUBLE_EQ(*median.noise_spread(env::StepKind::vm_start), 0.4);
  EXPECT_DOUBLE_EQ(*clairvoyant.noise_spread(env::StepKind::vm_start), 0.0);
  EXPECT_DOUBLE_EQ(*history.noise_spread(env::StepKind::disk_map), 0.3 * 0.5);
}

}  // namespace
}  // namespace revive::sim
