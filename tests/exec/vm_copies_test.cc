// The copies set: which hosts may hold a copy of a VM, and which answers are proof that none runs there.
#include <gtest/gtest.h>

#include "exec/vm_copies.h"
#include "model/cloud.h"

namespace revive::exec {
namespace {

model::Cloud three_hosts_one_vm() {
  model::Cloud cloud;
  for (const char* name : {"a", "b", "c"}) {
    model::Host host;
    host.name = name;
    cloud.hosts.push_back(host);
  }
  model::Vm vm;
  vm.name = "vm";
  vm.host = 0;
  cloud.vms.push_back(vm);
  return cloud;
}

TEST(VmCopies, StartsWhereTheInventoryRunsEachVm) {
  auto cloud = three_hosts_one_vm();
  VmCopies copies(cloud);
  EXPECT_EQ(copies.hosts(0), std::vector<model::HostIndex>{0});
  EXPECT_TRUE(copies.seen_on(0, 0));
  EXPECT_EQ(copies.unproven_besides(0, 1), std::vector<model::HostIndex>{0});
  EXPECT_TRUE(copies.unproven_besides(0, 0).empty());
}

TEST(VmCopies, AnUnansweredStartIsNoProofEvenWhenAListingLacksTheVm) {
  auto cloud = three_hosts_one_vm();
  VmCopies copies(cloud);
  copies.host_fenced(0);
  copies.start_issued(0, 1);
  copies.listed(1, {}, copies.version());  // the start may still take effect
  EXPECT_TRUE(copies.may_run_on(0, 1));
  EXPECT_FALSE(copies.needs_listing(0, 1));
  EXPECT_EQ(copies.unproven_besides(0, 2), std::vector<model::HostIndex>{1});
  copies.start_answered(0, 1, false);  // a definite failure
  EXPECT_FALSE(copies.may_run_on(0, 1));
  EXPECT_TRUE(copies.unproven_besides(0, 2).empty());
}

TEST(VmCopies, ALateStartThatSucceededKeepsTheHostAndOnlyItsFenceEndsIt) {
  auto cloud = three_hosts_one_vm();
  VmCopies copies(cloud);
  copies.start_issued(0, 1);
  copies.start_issued(0, 1);           // a retry of the same start
  copies.start_answered(0, 1, false);  // the retry failed fast ...
  EXPECT_TRUE(copies.pending_on(0, 1));
  copies.start_answered(0, 1, true);  // ... the first attempt came up late
  EXPECT_TRUE(copies.seen_on(0, 1));
  copies.proven_absent(0, 2);  // about another host: changes nothing here
  EXPECT_TRUE(copies.may_run_on(0, 1));
  copies.host_fenced(1);
  EXPECT_FALSE(copies.may_run_on(0, 1));
}

TEST(VmCopies, AMigrationWhoseSourceIsFencedIsDecidedByAListingOfItsTarget) {
  auto cloud = three_hosts_one_vm();
  VmCopies copies(cloud);
  copies.migration_issued(0, 0, 1);
  copies.listed(1, {}, copies.version());  // the migration may still switch over: no proof
  EXPECT_TRUE(copies.may_run_on(0, 1));
  EXPECT_FALSE(copies.needs_listing(0, 1));
  copies.host_fenced(0);  // the source is off: it can no longer switch over
  EXPECT_TRUE(copies.needs_listing(0, 1));
  copies.listed(1, {}, copies.version());
  EXPECT_FALSE(copies.may_run_on(0, 1));
  EXPECT_TRUE(copies.hosts(0).empty());
}

TEST(VmCopies, AListingAskedForBeforeAChangeProvesNothingAboutIt) {
  auto cloud = three_hosts_one_vm();
  VmCopies copies(cloud);
  copies.migration_issued(0, 0, 1);
  auto asked = copies.version();             // a listing of host b is asked for ...
  copies.migration_answered(0, 0, 1, true);  // ... the migration switches over meanwhile ...
  copies.host_fenced(0);
  copies.listed(1, {}, asked);  // ... and the listing, taken before, lacks the VM
  EXPECT_TRUE(copies.seen_on(0, 1));
  // A sighting from before a stop is no news either.
  asked = copies.version();
  copies.proven_absent(0, 1);  // stopped there
  copies.listed(1, {0}, asked);
  EXPECT_FALSE(copies.may_run_on(0, 1));
}

TEST(VmCopies, AMigrationThatSwitchedOverMovesTheCopy) {
  auto cloud = three_hosts_one_vm();
  VmCopies copies(cloud);
  copies.migration_issued(0, 0, 2);
  copies.migration_answered(0, 0, 2, true);
  EXPECT_EQ(copies.hosts(0), std::vector<model::HostIndex>{2});
  EXPECT_TRUE(copies.seen_on(0, 2));
}

TEST(VmCopies, AnUnknownOutcomeNeedsAListingAndListenersHearOfEveryChange) {
  auto cloud = three_hosts_one_vm();
  VmCopies copies(cloud);
  int changes = 0;
  auto id = copies.add_listener([&](model::VmIndex) { ++changes; });
  copies.maybe_running(0, 2);
  EXPECT_TRUE(copies.needs_listing(0, 2));
  EXPECT_NE(copies.describe(0, cloud).find("c (outcome unknown)"), std::string::npos);
  copies.listed(2, {0}, copies.version());  // it does run there
  EXPECT_TRUE(copies.seen_on(0, 2));
  EXPECT_EQ(changes, 2);
  copies.remove_listener(id);
  copies.host_fenced(2);
  EXPECT_EQ(changes, 2);
  EXPECT_EQ(copies.hosts(0), std::vector<model::HostIndex>{0});
}

}  // namespace
}  // namespace revive::exec
