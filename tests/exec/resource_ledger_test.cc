// ResourceLedger: capacities from the cloud, all-or-none acquisition, release notices in rank order, and
// released slots held back for the more urgent engine.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "exec/resource_ledger.h"
#include "model/cloud.h"

namespace revive::exec {
namespace {

model::Cloud small_cloud() {
  model::Cloud cloud;
  cloud.policy.host_max_parallel_restarts = 1;
  cloud.arrays.push_back({});
  cloud.arrays.back().name = "array-1";
  cloud.arrays.back().max_parallel = 2;
  cloud.switches.push_back({});
  cloud.switches.back().name = "sw-1";
  cloud.switches.back().max_parallel = 0;  // counted as 1
  cloud.endpoints.push_back({});
  cloud.endpoints.back().name = "mgmt-1";
  cloud.endpoints.back().max_parallel = 2;
  cloud.hosts.resize(2);
  return cloud;
}

TEST(ResourceLedger, CapacitiesComeFromTheCloudAndScopesAreDense) {
  auto cloud = small_cloud();
  ResourceLedger ledger(cloud, 3);
  EXPECT_EQ(ledger.capacity(ledger.array(0)), 2u);
  EXPECT_EQ(ledger.capacity(ledger.network_switch(0)), 1u);
  EXPECT_EQ(ledger.capacity(ledger.endpoint(0)), 2u);
  EXPECT_EQ(ledger.capacity(ledger.host_starts(1)), 1u);
  EXPECT_EQ(ledger.capacity(ledger.global()), 3u);
  EXPECT_EQ(ledger.capacity(ledger.fences()), cloud.policy.fence_max_parallel);
  EXPECT_EQ(ledger.scope_count(), 1u + 1u + 1u + 2u + 1u + 1u);  // ... hosts, fences, global
  EXPECT_EQ(ledger.endpoint(model::kNoIndex), kNoScope);
  EXPECT_TRUE(ledger.is_host_starts(ledger.host_starts(1)));
  EXPECT_EQ(ledger.host_of(ledger.host_starts(1)), 1u);
  EXPECT_EQ(ResourceLedger(cloud).global(), kNoScope);
}

TEST(ResourceLedger, AcquiresEveryScopeOfASetOrNone) {
  auto cloud = small_cloud();
  ResourceLedger ledger(cloud);
  auto me = ledger.add_listener(0, {});
  ScopeSet start;
  start.add(ledger.endpoint(0));
  start.add(ledger.host_starts(0));
  start.add(kNoScope);  // ignored
  EXPECT_TRUE(ledger.try_acquire(start, me));
  // The host's start slot is full: a second start there takes nothing, not even the endpoint slot.
  EXPECT_FALSE(ledger.try_acquire(start, me));
  EXPECT_EQ(ledger.in_flight(ledger.endpoint(0)), 1u);
  ScopeSet other_host;
  other_host.add(ledger.endpoint(0));
  other_host.add(ledger.host_starts(1));
  EXPECT_TRUE(ledger.try_acquire(other_host, me));
  EXPECT_EQ(ledger.in_flight(ledger.endpoint(0)), 2u);
  EXPECT_EQ(ledger.peak(ledger.endpoint(0)), 2u);
  ledger.release(start, me);
  EXPECT_EQ(ledger.in_flight(ledger.endpoint(0)), 1u);
  EXPECT_EQ(ledger.in_flight(ledger.host_starts(0)), 0u);
  EXPECT_THROW(ledger.release(start, me), std::logic_error);
}

TEST(ResourceLedger, ReleasesAreToldToTheOtherEnginesMostUrgentFirst) {
  auto cloud = small_cloud();
  ResourceLedger ledger(cloud);
  std::vector<std::string> told;
  auto evacuation =
      ledger.add_listener(ResourceLedger::kEvacuationRank, [&](std::span<const ScopeId> scopes) {
        told.push_back("evacuation:" + std::to_string(scopes.size()));
      });
  auto recovery = ledger.add_listener(ResourceLedger::kRecoveryRank, [&](std::span<const ScopeId> scopes) {
    told.push_back("recovery:" + std::to_string(scopes.size()));
  });
  auto third = ledger.add_listener(5, [&](std::span<const ScopeId>) { told.push_back("third"); });
  ScopeSet disk;
  disk.add(ledger.array(0));
  ASSERT_TRUE(ledger.try_acquire(disk, evacuation));
  ledger.release(disk, evacuation);  // not told to itself
  EXPECT_EQ(told, (std::vector<std::string>{"recovery:1", "third"}));
  told.clear();
  ledger.remove_listener(third);
  ASSERT_TRUE(ledger.try_acquire(disk, recovery));
  ledger.release(disk, recovery);
  EXPECT_EQ(told, (std::vector<std::string>{"evacuation:1"}));
}

TEST(ResourceLedger, ASlotTheMoreUrgentEngineWantsIsHeldBackFromTheOthers) {
  auto cloud = small_cloud();
  ResourceLedger ledger(cloud);
  bool recovery_wants = true;
  auto recovery = ledger.add_listener(ResourceLedger::kRecoveryRank, {},
                                      [&](ScopeId scope) { return recovery_wants && scope == 0u; });
  auto evacuation = ledger.add_listener(ResourceLedger::kEvacuationRank, {});
  ScopeSet disk;
  disk.add(ledger.array(0));
  EXPECT_FALSE(ledger.can_acquire(disk, evacuation));
  EXPECT_FALSE(ledger.try_acquire(disk, evacuation));
  EXPECT_TRUE(ledger.try_acquire(disk, recovery));  // the more urgent engine is never held back by others
  recovery_wants = false;
  EXPECT_TRUE(ledger.try_acquire(disk, evacuation));
  EXPECT_FALSE(ledger.try_acquire(disk, evacuation));  // full (2 of 2)
}

}  // namespace
}  // namespace revive::exec
