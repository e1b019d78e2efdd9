#include "fence/fence_chain.h"

#include <map>
#include <optional>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "fence/levels.h"
#include "heartbeat_sim/virtual_loop.h"

namespace revive::fence {
namespace {

using heartbeat_sim::VirtualLoop;

// A level that answers each fence with the next scripted result after `delay_s` (never, if delay_s < 0).
class ScriptedLevel final : public env::Fencer {
 public:
  ScriptedLevel(VirtualLoop& loop, std::vector<env::OperationResult> results, double delay_s = 0.5)
      : loop_(loop), results_(std::move(results)), delay_s_(delay_s) {}
  void fence(model::HostIndex, env::Completion done) override {
    ++calls;
    auto result = results_.empty() ? env::OperationResult::success() : results_.front();
    if (results_.size() > 1) results_.erase(results_.begin());
    if (delay_s_ < 0) return;
    loop_.schedule_after(delay_s_, [done, result] { done(result); });
  }
  void power_status(model::HostIndex,
                    std::function<void(const env::OperationResult&, env::PowerState)> done) override {
    loop_.post([done, state = state] { done(env::OperationResult::success(), state); });
  }
  int calls = 0;
  env::PowerState state = env::PowerState::unknown;

 private:
  VirtualLoop& loop_;
  std::vector<env::OperationResult> results_;
  double delay_s_;
};

struct Outcome {
  std::optional<env::OperationResult> result;
  std::optional<FenceReport> report;
};

Outcome fence_once(VirtualLoop& loop, FenceChain& chain, model::HostIndex host) {
  Outcome outcome;
  chain.set_observer([&](const FenceReport& report) { outcome.report = report; });
  chain.fence(host, [&](const env::OperationResult& result) { outcome.result = result; });
  loop.run_until(loop.now_s() + 1000.0);
  return outcome;
}

TEST(FenceChain, FirstSuccessfulLevelWins) {
  VirtualLoop loop;
  ScriptedLevel ipmi(loop, {env::OperationResult::failure("BMC unreachable")});
  ScriptedLevel agent(loop, {env::OperationResult::success()});
  ScriptedLevel manual(loop, {});
  FenceChain chain(loop);
  chain.add_level("ipmi", ipmi);
  chain.add_level("fence-agent", agent);
  chain.add_level("manual", manual);
  chain.set_default_levels({"ipmi", "fence-agent", "manual"});
  auto outcome = fence_once(loop, chain, 3);
  ASSERT_TRUE(outcome.result);
  EXPECT_TRUE(outcome.result->ok);
  ASSERT_TRUE(outcome.report);
  EXPECT_EQ(outcome.report->level, "fence-agent");
  ASSERT_EQ(outcome.report->attempts.size(), 2u);
  EXPECT_EQ(outcome.report->attempts[0].error, "BMC unreachable");
  EXPECT_EQ(manual.calls, 0);
}

TEST(FenceChain, AllFailingIsAFailureNamingEachLevel) {
  VirtualLoop loop;
  ScriptedLevel ipmi(loop, {env::OperationResult::failure("wrong password", true)});
  ScriptedLevel manual(loop, {env::OperationResult::failure("no operator yet")});
  FenceChain chain(loop);
  chain.add_level("ipmi", ipmi);
  chain.add_level("manual", manual);
  chain.set_default_levels({"ipmi", "manual"});
  auto outcome = fence_once(loop, chain, 0);
  ASSERT_TRUE(outcome.result);
  EXPECT_FALSE(outcome.result->ok);
  EXPECT_FALSE(outcome.result->permanent);  // the manual level may still succeed later
  EXPECT_EQ(outcome.result->error, "ipmi: wrong password; manual: no operator yet");

  // The permanently failed level is not tried again for this host.
  auto again = fence_once(loop, chain, 0);
  EXPECT_EQ(ipmi.calls, 1);
  EXPECT_EQ(manual.calls, 2);
  ASSERT_TRUE(again.report);
  EXPECT_TRUE(again.report->attempts[0].skipped);

  chain.forget_permanent_failures(0);
  fence_once(loop, chain, 0);
  EXPECT_EQ(ipmi.calls, 2);
}

TEST(FenceChain, EveryLevelFailedForGoodIsPermanent) {
  VirtualLoop loop;
  ScriptedLevel ipmi(loop, {env::OperationResult::failure("wrong password", true)});
  FenceChain chain(loop);
  chain.add_level("ipmi", ipmi);
  chain.set_default_levels({"ipmi"});
  auto outcome = fence_once(loop, chain, 0);
  EXPECT_TRUE(outcome.result->permanent);
  EXPECT_NE(outcome.result->error.find("wrong password"), std::string::npos);
}

TEST(FenceChain, SilentLevelTimesOutAndTheNextOneIsTried) {
  VirtualLoop loop;
  ScriptedLevel hung(loop, {}, -1.0);
  ScriptedLevel good(loop, {});
  FenceChain chain(loop, 10.0);
  chain.add_level("ipmi", hung);
  chain.add_level("storage", good);
  chain.set_default_levels({"ipmi", "storage"});
  auto outcome = fence_once(loop, chain, 0);
  EXPECT_TRUE(outcome.result->ok);
  EXPECT_EQ(outcome.report->level, "storage");
  EXPECT_NE(outcome.report->attempts[0].error.find("no answer within 10 s"), std::string::npos);
  EXPECT_NEAR(outcome.report->attempts[0].finished_s - outcome.report->attempts[0].started_s, 10.0, 1e-9);
}

TEST(FenceChain, HostLevelsOverrideDefaultsAndUnknownNamesAreRejected) {
  VirtualLoop loop;
  ScriptedLevel ipmi(loop, {});
  ScriptedLevel manual(loop, {});
  FenceChain chain(loop);
  chain.add_level("ipmi", ipmi);
  chain.add_level("manual", manual);
  chain.set_default_levels({"ipmi"});
  chain.set_host_levels(7, {"manual"});
  EXPECT_EQ(fence_once(loop, chain, 7).report->level, "manual");
  EXPECT_EQ(fence_once(loop, chain, 6).report->level, "ipmi");
  EXPECT_THROW(chain.set_default_levels({"ipmi", "bogus"}), std::invalid_argument);
}

TEST(FenceChain, NoLevelsIsAPermanentFailure) {
  VirtualLoop loop;
  FenceChain chain(loop);
  auto outcome = fence_once(loop, chain, 0);
  EXPECT_FALSE(outcome.result->ok);
  EXPECT_TRUE(outcome.result->permanent);
}

TEST(FenceChain, PowerStatusAsksLevelsUntilOneKnows) {
  VirtualLoop loop;
  ScriptedLevel storage(loop, {});
  ScriptedLevel ipmi(loop, {});
  ipmi.state = env::PowerState::off;
  FenceChain chain(loop);
  chain.add_level("storage", storage);
  chain.add_level("ipmi", ipmi);
  chain.set_default_levels({"storage", "ipmi"});
  env::PowerState seen = env::PowerState::unknown;
  chain.power_status(0, [&](const env::OperationResult& result, env::PowerState state) {
    EXPECT_TRUE(result.ok);
    seen = state;
  });
  loop.run_until(1.0);
  EXPECT_EQ(seen, env::PowerState::off);
}

// ------------------------------------------------------------------------------------------ levels

class FakeStorage final : public env::Storage {
 public:
  explicit FakeStorage(VirtualLoop& loop) : loop_(loop) {}
  void map_disks(model::ArrayIndex, model::HostIndex, std::vector<model::DiskIndex> disks,
                 env::DiskCompletion done) override {
    for (auto disk : disks) loop_.post([done, disk] { done(disk, env::OperationResult::success()); });
  }
  void unmap_disks(model::ArrayIndex array, model::HostIndex host, std::vector<model::DiskIndex> disks,
                   env::DiskCompletion done) override {
    calls.push_back({array, host, disks});
    bool fail = failing_arrays.contains(array);
    for (auto disk : disks) {
      loop_.post([done, fail, disk] {
        done(disk, fail ? env::OperationResult::failure("array busy") : env::OperationResult::success());
      });
    }
  }
  struct Call {
    model::ArrayIndex array;
    model::HostIndex host;
    std::vector<model::DiskIndex> disks;
  };
  std::vector<Call> calls;
  std::set<model::ArrayIndex> failing_arrays;

 private:
  VirtualLoop& loop_;
};

model::Cloud two_arrays_cloud() {
  model::Cloud cloud;
  cloud.arrays = {{"array-a", 4}, {"array-b", 4}};
  cloud.hosts.resize(2);
  cloud.hosts[0].name = "h0";
  cloud.hosts[1].name = "h1";
  cloud.vms.resize(2);
  cloud.vms[0].name = "vm0";
  cloud.vms[0].host = 0;
  cloud.vms[0].first_disk = 0;
  cloud.vms[0].disk_count = 2;
  cloud.vms[1].name = "vm1";
  cloud.vms[1].host = 1;
  cloud.vms[1].first_disk = 2;
  cloud.vms[1].disk_count = 1;
  cloud.disks = {{"d0", 0, 10, 0}, {"d1", 1, 10, 0}, {"d2", 0, 10, 1}};
  cloud.rebuild_indexes();
  return cloud;
}

// Where the caller believes each VM runs or may run now: the storage fencer's live source.
struct Placement {
  std::map<model::HostIndex, std::vector<model::VmIndex>> vms;
  VmsOnHost provider() {
    return [this](model::HostIndex host) {
      auto found = vms.find(host);
      return found == vms.end() ? std::vector<model::VmIndex>{} : found->second;
    };
  }
};

TEST(StorageFencer, SucceedsWhenEveryVmOfTheHostIsOnStorageUnmappingPerArray) {
  VirtualLoop loop;
  FakeStorage storage(loop);
  auto cloud = two_arrays_cloud();
  Placement placement{{{0, {0}}, {1, {1}}}};
  StorageFencer level(loop, storage, cloud, placement.provider());
  std::optional<env::OperationResult> result;
  level.fence(0, [&](const env::OperationResult& r) { result = r; });
  loop.run_until(1.0);
  ASSERT_TRUE(result);
  EXPECT_TRUE(result->ok);
  ASSERT_EQ(storage.calls.size(), 2u);
  EXPECT_EQ(storage.calls[0].disks, std::vector<model::DiskIndex>{0});
  EXPECT_EQ(storage.calls[1].disks, std::vector<model::DiskIndex>{1});

  storage.failing_arrays.insert(1);
  level.fence(0, [&](const env::OperationResult& r) { result = r; });
  loop.run_until(2.0);
  EXPECT_FALSE(result->ok);
  EXPECT_NE(result->error.find("unmap d1 on array-b: array busy"), std::string::npos) << result->error;
}

TEST(StorageFencer, FailsForAHostRunningADisklessVmWithoutUnmappingAnything) {
  VirtualLoop loop;
  FakeStorage storage(loop);
  auto cloud = two_arrays_cloud();
  cloud.vms[1].disk_count = 0;
  // h1 runs vm1 (no disks) and may run vm0 (on storage).
  Placement placement{{{1, {0, 1}}}};
  StorageFencer level(loop, storage, cloud, placement.provider());
  std::optional<env::OperationResult> result;
  level.fence(1, [&](const env::OperationResult& r) { result = r; });
  loop.run_until(1.0);
  ASSERT_TRUE(result);
  EXPECT_FALSE(result->ok);
  EXPECT_FALSE(result->permanent);  // the chain moves on, and tries this level again at the next loss
  EXPECT_NE(result->error.find("storage fencing cannot stop diskless VM vm1"), std::string::npos)
      << result->error;
  EXPECT_TRUE(storage.calls.empty());

  // A host no VM is believed on: nothing to unmap proves nothing.
  result.reset();
  level.fence(0, [&](const env::OperationResult& r) { result = r; });
  loop.run_until(2.0);
  ASSERT_TRUE(result);
  EXPECT_FALSE(result->ok);
  EXPECT_NE(result->error.find("proves nothing"), std::string::npos) << result->error;
}

TEST(StorageFencer, SeesAVmThatMovedToTheHostAfterConstruction) {
  VirtualLoop loop;
  FakeStorage storage(loop);
  auto cloud = two_arrays_cloud();  // the inventory places vm0 on h0, vm1 on h1
  Placement placement{{{0, {0}}, {1, {1}}}};
  StorageFencer level(loop, storage, cloud, placement.provider());
  // vm0 moved to h1 after the level was built; the inventory still says h0.
  placement.vms[0].clear();
  placement.vms[1] = {1, 0};
  std::optional<env::OperationResult> result;
  level.fence(1, [&](const env::OperationResult& r) { result = r; });
  loop.run_until(1.0);
  ASSERT_TRUE(result);
  EXPECT_TRUE(result->ok);
  std::set<model::DiskIndex> unmapped;
  for (const auto& call : storage.calls) {
    EXPECT_EQ(call.host, 1u);
    unmapped.insert(call.disks.begin(), call.disks.end());
  }
  EXPECT_EQ(unmapped, (std::set<model::DiskIndex>{0, 1, 2}));  // vm0's d0, d1 and vm1's d2

  // A diskless VM moved there later is seen too.
  cloud.vms.push_back(cloud.vms[1]);
  cloud.vms.back().name = "vm2";
  cloud.vms.back().disk_count = 0;
  cloud.rebuild_indexes();
  placement.vms[1].push_back(2);
  result.reset();
  level.fence(1, [&](const env::OperationResult& r) { result = r; });
  loop.run_until(2.0);
  ASSERT_TRUE(result);
  EXPECT_FALSE(result->ok);
  EXPECT_NE(result->error.find("diskless VM vm2"), std::string::npos) << result->error;
}

class FakeHypervisor final : public env::Hypervisor {
 public:
  explicit FakeHypervisor(VirtualLoop& loop) : loop_(loop) {}
  void start_vm(model::HostIndex, model::VmIndex, env::Completion done) override {
    loop_.post([done] { done({}); });
  }
  void stop_vm(model::HostIndex, model::VmIndex vm, bool graceful, env::Completion done) override {
    EXPECT_FALSE(graceful);
    if (!stubborn.contains(vm)) running.erase(vm);
    loop_.post([done] { done({}); });
  }
  void migrate_vm(model::VmIndex, model::HostIndex, model::HostIndex, env::Completion done) override {
    loop_.post([done] { done({}); });
  }
  void list_running(
      model::HostIndex,
      std::function<void(const env::OperationResult&, std::vector<model::VmIndex>)> done) override {
    std::vector<model::VmIndex> list(running.begin(), running.end());
    bool ok = reachable;
    loop_.post([done, list, ok] {
      done(ok ? env::OperationResult::success() : env::OperationResult::failure("connection refused"), list);
    });
  }
  void subscribe(std::function<void(const env::HypervisorEvent&)>) override {}
  std::set<model::VmIndex> running{4, 5};
  std::set<model::VmIndex> stubborn;
  bool reachable = true;

 private:
  VirtualLoop& loop_;
};

TEST(HypervisorFencer, DestroysEveryRunningVmAndVerifies) {
  VirtualLoop loop;
  FakeHypervisor hypervisor(loop);
  HypervisorFencer level(loop, hypervisor);
  std::optional<env::OperationResult> result;
  level.fence(0, [&](const env::OperationResult& r) { result = r; });
  loop.run_until(1.0);
  EXPECT_TRUE(result->ok);
  EXPECT_TRUE(hypervisor.running.empty());

  hypervisor.running = {1, 2};
  hypervisor.stubborn = {2};
  level.fence(0, [&](const env::OperationResult& r) { result = r; });
  loop.run_until(2.0);
  EXPECT_FALSE(result->ok);
  EXPECT_NE(result->error.find("still running"), std::string::npos);

  hypervisor.reachable = false;
  level.fence(0, [&](const env::OperationResult& r) { result = r; });
  loop.run_until(3.0);
  EXPECT_FALSE(result->ok);
  EXPECT_FALSE(result->permanent);
  EXPECT_NE(result->error.find("unreachable"), std::string::npos);
}

class FakeLiveness final : public Liveness {
 public:
  std::optional<double> last_lease_renewal_s(model::HostIndex) const override { return renewal; }
  std::optional<double> last_agent_contact_s(model::HostIndex) const override { return contact; }
  std::optional<double> last_lease_check_s(model::HostIndex) const override { return checked; }
  std::optional<double> self_fence_within_s(model::HostIndex) const override { return self_fence; }
  std::optional<double> renewal;
  std::optional<double> contact;
  std::optional<double> checked;
  std::optional<double> self_fence = 5.0;  // the last lease record declared a watchdog of 5 s
};

TEST(LeaseFencer, SucceedsOnlyAfterLeaseExpiryPlusWatchdog) {
  VirtualLoop loop;
  FakeLiveness liveness;
  liveness.renewal = 0.0;
  liveness.contact = 3.0;
  liveness.checked = 100.0;  // the controller keeps reading it
  LeaseSettings settings{
      .lease_ttl_s = 10.0, .controller_timeout_s = 10.0, .watchdog_s = 5.0, .margin_s = 1.0};
  LeaseFencer level(loop, liveness, settings);
  EXPECT_DOUBLE_EQ(*level.proof_time_s(0), 3.0 + 10.0 + 5.0 + 1.0);
  std::optional<env::OperationResult> result;
  double finished = -1.0;
  level.fence(0, [&](const env::OperationResult& r) {
    result = r;
    finished = loop.now_s();
  });
  loop.run_until(18.9);
  EXPECT_FALSE(result);
  loop.run_until(30.0);
  ASSERT_TRUE(result);
  EXPECT_TRUE(result->ok);
  EXPECT_DOUBLE_EQ(finished, 19.0);
}

TEST(LeaseFencer, UnreadableLeaseProvesNothing) {
  VirtualLoop loop;
  FakeLiveness liveness;
  liveness.renewal = 0.0;
  liveness.checked = 2.0;  // the controller lost the storage at 2 s
  LeaseFencer level(loop, liveness);
  std::optional<env::OperationResult> result;
  level.fence(0, [&](const env::OperationResult& r) { result = r; });
  loop.run_until(30.0);
  EXPECT_FALSE(result);
  liveness.checked = 30.0;  // readable again, unchanged
  loop.run_until(31.0);
  ASSERT_TRUE(result);
  EXPECT_TRUE(result->ok);

  liveness.checked = 2.0;
  result.reset();
  level.fence(0, [&](const env::OperationResult& r) { result = r; });
  loop.run_until(200.0);
  ASSERT_TRUE(result);
  EXPECT_FALSE(result->ok);
  EXPECT_NE(result->error.find("could not be read"), std::string::npos);
}

TEST(LeaseFencer, RenewedLeaseMeansTheHostIsAlive) {
  VirtualLoop loop;
  FakeLiveness liveness;
  liveness.renewal = 0.0;
  LeaseFencer level(loop, liveness);
  std::optional<env::OperationResult> result;
  level.fence(0, [&](const env::OperationResult& r) { result = r; });
  loop.run_until(5.0);
  liveness.renewal = 5.0;
  loop.run_until(100.0);
  ASSERT_TRUE(result);
  EXPECT_FALSE(result->ok);
  EXPECT_NE(result->error.find("alive"), std::string::npos);

  liveness.renewal.reset();
  level.fence(0, [&](const env::OperationResult& r) { result = r; });
  loop.run_until(101.0);
  EXPECT_FALSE(result->ok);
  EXPECT_TRUE(result->permanent);
}

TEST(LeaseFencer, RefusesWithoutADeclaredWorkingSelfFence) {
  VirtualLoop loop;
  FakeLiveness liveness;
  liveness.renewal = 0.0;
  liveness.checked = 100.0;
  liveness.self_fence.reset();  // the agent has no watchdog device and no self-fence command
  LeaseFencer level(loop, liveness, {.lease_ttl_s = 10.0, .controller_timeout_s = 10.0, .watchdog_s = 5.0});
  std::optional<env::OperationResult> result;
  level.fence(0, [&](const env::OperationResult& r) { result = r; });
  loop.run_until(0.1);  // at once, not after the lease deadline
  ASSERT_TRUE(result);
  EXPECT_FALSE(result->ok);
  EXPECT_FALSE(result->permanent);
  EXPECT_NE(result->error.find("no working self-fence"), std::string::npos) << result->error;

  // A self-fence slower than the level's watchdog allowance is no proof at the deadline either.
  liveness.self_fence = 8.0;
  result.reset();
  level.fence(0, [&](const env::OperationResult& r) { result = r; });
  loop.run_until(0.2);
  ASSERT_TRUE(result);
  EXPECT_FALSE(result->ok);
  EXPECT_NE(result->error.find("up to 8 s"), std::string::npos) << result->error;

  // Declared at the start, withdrawn (the agent stopped cleanly) before the deadline: no proof.
  liveness.self_fence = 5.0;
  result.reset();
  level.fence(0, [&](const env::OperationResult& r) { result = r; });
  loop.run_until(10.0);
  EXPECT_FALSE(result);
  liveness.self_fence.reset();
  loop.run_until(60.0);
  ASSERT_TRUE(result);
  EXPECT_FALSE(result->ok);
  EXPECT_NE(result->error.find("no working self-fence"), std::string::npos) << result->error;
}

TEST(ManualFencer, WaitsForTheOperator) {
  VirtualLoop loop;
  model::Cloud cloud = two_arrays_cloud();
  ManualFencer level(loop, cloud, 60.0);
  std::optional<env::OperationResult> result;
  level.fence(1, [&](const env::OperationResult& r) { result = r; });
  loop.run_until(61.0);
  ASSERT_TRUE(result);
  EXPECT_FALSE(result->ok);
  EXPECT_NE(result->error.find("revive host confirm-down h1"), std::string::npos);

  result.reset();
  level.fence(1, [&](const env::OperationResult& r) { result = r; });
  loop.run_until(70.0);
  EXPECT_FALSE(result);
  level.confirm(1);
  loop.run_until(71.0);
  ASSERT_TRUE(result);
  EXPECT_TRUE(result->ok);

  // The loss is proven: a later fence of h1 in the same loss needs no new confirmation.
  result.reset();
  level.fence(1, [&](const env::OperationResult& r) { result = r; });
  loop.run_until(72.0);
  ASSERT_TRUE(result);
  EXPECT_TRUE(result->ok);
}

TEST(ManualFencer, ConfirmationWithNoFencePendingDoesNotSatisfyALaterFence) {
  VirtualLoop loop;
  model::Cloud cloud = two_arrays_cloud();
  ManualFencer level(loop, cloud, 60.0);
  // h0 is not lost (no fence asked, not declared lost): the confirmation is refused and not kept.
  EXPECT_FALSE(level.confirm(0));
  EXPECT_FALSE(level.confirmed(0));
  loop.run_until(100.0);
  std::optional<env::OperationResult> result;
  level.fence(0, [&](const env::OperationResult& r) { result = r; });
  loop.run_until(101.0);
  EXPECT_FALSE(result);  // waits for a fresh confirmation
  loop.run_until(161.0);
  ASSERT_TRUE(result);
  EXPECT_FALSE(result->ok);
  EXPECT_NE(result->error.find("no operator confirmation"), std::string::npos);

  // Declared lost before any fence: a confirmation now counts for this loss.
  level.host_lost(1);
  EXPECT_TRUE(level.confirm(1));
  result.reset();
  level.fence(1, [&](const env::OperationResult& r) { result = r; });
  loop.run_until(162.0);
  ASSERT_TRUE(result);
  EXPECT_TRUE(result->ok);
}

TEST(ManualFencer, AProofEndsWhenTheHostComesBack) {
  VirtualLoop loop;
  model::Cloud cloud = two_arrays_cloud();
  ManualFencer level(loop, cloud, 60.0);
  std::optional<env::OperationResult> result;
  level.fence(1, [&](const env::OperationResult& r) { result = r; });
  EXPECT_TRUE(level.confirm(1));
  loop.run_until(1.0);
  ASSERT_TRUE(result);
  ASSERT_TRUE(result->ok);

  level.host_recovered(1);  // the host is back: the confirmation belonged to the loss that ended
  EXPECT_FALSE(level.lost(1));
  EXPECT_FALSE(level.confirmed(1));
  result.reset();
  level.fence(1, [&](const env::OperationResult& r) { result = r; });  // a new loss
  loop.run_until(30.0);
  EXPECT_FALSE(result);

  // The host comes back while that fence waits: it fails, and a confirmation afterwards is refused.
  level.host_recovered(1);
  loop.run_until(31.0);
  ASSERT_TRUE(result);
  EXPECT_FALSE(result->ok);
  EXPECT_NE(result->error.find("came back"), std::string::npos) << result->error;
  EXPECT_FALSE(level.confirm(1));
  result.reset();
  level.fence(1, [&](const env::OperationResult& r) { result = r; });
  loop.run_until(32.0);
  EXPECT_FALSE(result);
}

TEST(FenceChain, HostRecoveredClearsTheProofsOfEveryLevel) {
  VirtualLoop loop;
  model::Cloud cloud = two_arrays_cloud();
  ScriptedLevel ipmi(loop, {env::OperationResult::failure("BMC unreachable")});
  ManualFencer manual(loop, cloud, 60.0);
  FenceChain chain(loop);
  chain.add_level("ipmi", ipmi);
  chain.add_level("manual", manual);
  chain.add_level("operator", manual);  // one fencer under two names is told once
  chain.set_default_levels({"ipmi", "manual"});
  std::optional<env::OperationResult> result;
  chain.fence(0, [&](const env::OperationResult& r) { result = r; });
  loop.run_until(1.0);
  EXPECT_FALSE(result);
  EXPECT_TRUE(manual.confirm(0));
  loop.run_until(2.0);
  ASSERT_TRUE(result);
  EXPECT_TRUE(result->ok);

  chain.host_recovered(0);
  EXPECT_FALSE(manual.confirmed(0));
  EXPECT_FALSE(manual.lost(0));
  result.reset();
  chain.fence(0, [&](const env::OperationResult& r) { result = r; });
  loop.run_until(30.0);
  EXPECT_FALSE(result);  // the old confirmation does not prove the new loss
  loop.run_until(200.0);
  ASSERT_TRUE(result);
  EXPECT_FALSE(result->ok);
}

}  // namespace
}  // namespace revive::fence
