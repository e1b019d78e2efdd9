// Property test of the prestaged plans: on random clouds every prestaged plan (each single host, each rack)
// passes the independent checker, and still does after a series of random model changes (VMs live-migrated
// within the rules, hosts going into maintenance, down and back up) reported incrementally.
// Reproduce one seed with REVIVE_PROPERTY_SEED=<seed> build/<preset>/tests/plan_test
// --gtest_filter='PrecomputedPlansProperty.*'.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <random>
#include <string>

#include "plan/plan_checker.h"
#include "plan/precomputed_plans.h"
#include "plan/support/random_cloud.h"

namespace revive::plan {
namespace {

using model::HostIndex;
using model::VmIndex;

constexpr std::uint64_t kClouds = 200;

constexpr int kChangesPerCloud = 8;

// Problems of every prestaged plan, prefixed with the plan's name; empty when all are sound.
std::string check_all(const model::Cloud& cloud, const PrecomputedPlans& plans) {
  std::string problems;
  for (const PrestagedPlan& prestaged : plans.plans()) {
    for (const std::string& violation : find_plan_violations(cloud, prestaged.request, prestaged.plan)) {
      problems += "\n  " + prestaged.name + ": " + violation;
    }
  }
  return problems;
}

// Whether `vm` may live-migrate to `host` by the inventory rules (groups of the VM hold after the move).
bool may_move(const model::Cloud& cloud, VmIndex v, HostIndex h) {
  const model::Vm& vm = cloud.vms[v];
  const model::Host& host = cloud.hosts[h];
  if (h == vm.host || host.state != model::HostState::up || host.arch != cloud.hosts[vm.host].arch)
    return false;
  for (auto label : vm.require_labels) {
    if (!cloud.has_label(h, label)) return false;
  }
  for (auto network : vm.networks) {
    if (!cloud.has_network(h, network)) return false;
  }
  for (std::size_t d = vm.first_disk; d < cloud.vm_disk_end(v); ++d) {
    if (!cloud.reaches_array(h, cloud.disks[d].array)) return false;
  }
  double cpus = vm.cpus, memory = static_cast<double>(vm.memory_mib);
  for (VmIndex other = 0; other < cloud.vms.size(); ++other) {
    if (cloud.vms[other].host != h) continue;
    cpus += cloud.vms[other].cpus;
    memory += static_cast<double>(cloud.vms[other].memory_mib);
  }
  if (cpus > cloud.usable_cpus(h) || memory > cloud.usable_memory_mib(h)) return false;
  for (model::GroupIndex g : vm.groups) {
    const model::Group& group = cloud.groups[g];
    auto here = cloud.scope_value(h, group.scope);
    for (VmIndex member : group.members) {
      if (member == v) continue;
      bool together = cloud.scope_value(cloud.vms[member].host, group.scope) == here;
      if (group.kind == model::GroupKind::anti_affinity ? together : !together) return false;
    }
  }
  return true;
}

std::string check_seed(std::uint64_t seed, std::uint64_t& vm_moves, std::uint64_t& host_changes) {
  testing::RandomInstance instance = testing::random_instance(seed);
  model::Cloud& cloud = instance.cloud;
  PrecomputedPlans plans(cloud, {cloud.symbols.intern("rack")});
  std::string problems = check_all(cloud, plans);
  if (!problems.empty()) return " (initial plans)" + problems;
  std::mt19937_64 random(seed);
  for (int change = 0; change < kChangesPerCloud; ++change) {
    std::string what;
    if (random() % 4 != 0 && !cloud.vms.empty()) {
      auto v = static_cast<VmIndex>(random() % cloud.vms.size());
      auto h = static_cast<HostIndex>(random() % cloud.hosts.size());
      if (!may_move(cloud, v, h)) continue;
      HostIndex previous = cloud.vms[v].host;
      cloud.vms[v].host = h;
      cloud.rebuild_indexes();
      plans.on_vm_moved(v, previous);
      ++vm_moves;
      what = cloud.vms[v].name + " moved from " + cloud.hosts[previous].name + " to " + cloud.hosts[h].name;
    } else {
      auto h = static_cast<HostIndex>(random() % cloud.hosts.size());
      model::HostState& state = cloud.hosts[h].state;
      // Only empty hosts go down without failing; any host may enter or leave maintenance.
      if (state != model::HostState::up) {
        state = model::HostState::up;
      } else {
        state =
            cloud.vms_on(h).empty() && random() % 2 ? model::HostState::down : model::HostState::maintenance;
      }
      plans.on_host_changed(h);
      ++host_changes;
      what = cloud.hosts[h].name + " is now " + std::string(model::to_string(state));
    }
    problems = check_all(cloud, plans);
    if (!problems.empty()) return " (after change " + std::to_string(change) + ": " + what + ")" + problems;
  }
  return {};
}

TEST(PrecomputedPlansProperty, EveryPrestagedPlanStaysSoundThroughModelChanges) {
  std::vector<std::uint64_t> seeds;
  if (const char* only = std::getenv("REVIVE_PROPERTY_SEED")) {
    seeds.push_back(std::stoull(only));
  } else {
    for (std::uint64_t seed = 0; seed < kClouds; ++seed) seeds.push_back(seed);
  }
  int failing = 0;
  std::string failing_seeds;
  std::uint64_t vm_moves = 0, host_changes = 0;
  for (std::uint64_t seed : seeds) {
    std::string problems = check_seed(seed, vm_moves, host_changes);
    if (problems.empty()) continue;
    if (++failing <= 3) ADD_FAILURE() << "seed " << seed << problems.substr(0, 2000);
    failing_seeds += " " + std::to_string(seed);
  }
  EXPECT_EQ(failing, 0) << "failing seeds:" << failing_seeds;
  if (seeds.size() > 1) {  // the changes must actually exercise the incremental updates
    EXPECT_GT(vm_moves, seeds.size());
    EXPECT_GT(host_changes, seeds.size());
  }
  std::cout << seeds.size() << " clouds, " << vm_moves << " VM moves, " << host_changes << " host changes\n";
}

TEST(PrecomputedPlansProperty, FindsThePlanOfEachSingleHost) {
  testing::RandomInstance instance = testing::random_instance(5);
  PrecomputedPlans plans(instance.cloud, {});
  for (HostIndex h = 0; h < instance.cloud.hosts.size(); ++h) {
    if (instance.cloud.hosts[h].state != model::HostState::up) continue;
    const PrestagedPlan* prestaged = plans.find({h});
    ASSERT_NE(prestaged, nullptr) << instance.cloud.hosts[h].name;
    EXPECT_EQ(prestaged->request.failed_hosts, std::vector<HostIndex>{h});
  }
}

}  // namespace
}  // namespace revive::plan
