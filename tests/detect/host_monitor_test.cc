#include "detect/host_monitor.h"

#include <algorithm>
#include <array>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "detect/test_fencer.h"
#include "heartbeat_sim/virtual_loop.h"

namespace revive::detect {
namespace {

using heartbeat_sim::VirtualLoop;
using testing::ScriptedFencer;

// Hosts that beat every second on each channel while their channel is switched on.
class Beats {
 public:
  Beats(VirtualLoop& loop, HostMonitor& monitor, std::size_t hosts) : loop_(loop), monitor_(monitor) {
    on_.resize(hosts, {true, true, true});
    for (model::HostIndex host = 0; host < hosts; ++host) {
      for (int c = 0; c < kChannelCount; ++c) schedule(host, static_cast<Channel>(c), 0.1 * (c + 1));
    }
  }
  void set(model::HostIndex host, Channel channel, bool on) { on_[host][static_cast<int>(channel)] = on; }
  void set_network(model::HostIndex host, bool on) {
    set(host, Channel::hypervisor, on);
    set(host, Channel::agent, on);
  }
  void set_all(model::HostIndex host, bool on) {
    set_network(host, on);
    set(host, Channel::storage, on);
  }

 private:
  void schedule(model::HostIndex host, Channel channel, double delay) {
    loop_.schedule_after(delay, [this, host, channel] {
      if (on_[host][static_cast<int>(channel)]) monitor_.heartbeat(host, channel);
      schedule(host, channel, 1.0);
    });
  }
  VirtualLoop& loop_;
  HostMonitor& monitor_;
  std::vector<std::array<bool, kChannelCount>> on_;
};

struct Fixture {
  explicit Fixture(std::size_t hosts, DetectorSettings settings = {})
      : fencer(loop), monitor(loop, fencer, settings), beats(loop, monitor, hosts) {
    monitor.subscribe([this](const HostEvent& event) { events.push_back(event); });
    for (model::HostIndex host = 0; host < hosts; ++host) monitor.add_host(host, ChannelSet::all());
    loop.run_until(30.0);  // warm up the detectors
  }
  std::vector<HostHealth> path(model::HostIndex host) const {
    std::vector<HostHealth> result;
    for (const auto& event : events) {
      if (event.host == host && event.kind == HostEvent::Kind::transition) result.push_back(event.to);
    }
    return result;
  }
  const HostEvent* last_transition_to(model::HostIndex host, HostHealth to) const {
    const HostEvent* found = nullptr;
    for (const auto& event : events) {
      if (event.host == host && event.kind == HostEvent::Kind::transition && event.to == to) found = &event;
    }
    return found;
  }

  VirtualLoop loop;
  ScriptedFencer fencer;
  HostMonitor monitor;
  Beats beats;
  std::vector<HostEvent> events;
};

TEST(HostMonitor, SteadyHeartbeatsKeepHostsUp) {
  Fixture fixture(3);
  fixture.loop.run_until(3600.0);
  EXPECT_TRUE(fixture.events.empty());
  EXPECT_TRUE(fixture.fencer.calls.empty());
  for (model::HostIndex host = 0; host < 3; ++host) EXPECT_EQ(fixture.monitor.health(host), HostHealth::up);
}

TEST(HostMonitor, CrashIsDeclaredFailedWithEvidenceThenFencedThenRecovered) {
  Fixture fixture(4);
  double crash_at = fixture.loop.now_s();
  fixture.beats.set_all(1, false);
  fixture.loop.run_until(crash_at + 20.0);
  ASSERT_EQ(fixture.fencer.calls, std::vector<model::HostIndex>{1});
  EXPECT_EQ(fixture.monitor.health(1), HostHealth::fencing);
  EXPECT_EQ(fixture.path(1),
            (std::vector<HostHealth>{HostHealth::suspect, HostHealth::failed, HostHealth::fencing}));
  const auto* failed = fixture.last_transition_to(1, HostHealth::failed);
  ASSERT_NE(failed, nullptr);
  EXPECT_LT(failed->at_s - crash_at, 7.0);
  ASSERT_EQ(failed->channels.size(), 3u);
  for (const auto& channel : failed->channels) {
    EXPECT_GE(channel.phi, 8.0) << to_string(channel.channel);
    EXPECT_GT(channel.silent_s, 3.0);
  }
  EXPECT_FALSE(fixture.monitor.recovery_started(1));  // not fenced yet

  fixture.fencer.answer(1, env::OperationResult::success());
  fixture.loop.run_until(fixture.loop.now_s() + 1.0);
  EXPECT_EQ(fixture.monitor.health(1), HostHealth::fenced);
  EXPECT_TRUE(fixture.monitor.recovery_started(1));
  fixture.monitor.recovery_finished(1);
  EXPECT_EQ(fixture.monitor.health(1), HostHealth::recovered);

  // Repaired: it rejoins when its heartbeats are back on time.
  fixture.beats.set_all(1, true);
  fixture.loop.run_until(fixture.loop.now_s() + 10.0);
  EXPECT_EQ(fixture.monitor.health(1), HostHealth::up);
  for (model::HostIndex host : {0u, 2u, 3u}) EXPECT_EQ(fixture.monitor.health(host), HostHealth::up);
}

TEST(HostMonitor, NetworkSilentWithLiveStorageIsIsolatedNeverFenced) {
  Fixture fixture(4);
  fixture.beats.set_network(2, false);
  fixture.loop.run_until(fixture.loop.now_s() + 600.0);
  EXPECT_EQ(fixture.monitor.health(2), HostHealth::isolated);
  EXPECT_TRUE(fixture.fencer.calls.empty());
  auto path = fixture.path(2);
  EXPECT_EQ(std::count(path.begin(), path.end(), HostHealth::failed), 0);
  const auto* isolated = fixture.last_transition_to(2, HostHealth::isolated);
  ASSERT_NE(isolated, nullptr);
  EXPECT_NE(isolated->reason.find("storage lease renewed"), std::string::npos) << isolated->reason;

  fixture.beats.set_network(2, true);
  fixture.loop.run_until(fixture.loop.now_s() + 5.0);
  EXPECT_EQ(fixture.monitor.health(2), HostHealth::up);
}

TEST(HostMonitor, IsolatedHostWhoseLeaseExpiresBecomesFailed) {
  Fixture fixture(4);
  fixture.beats.set_network(0, false);
  fixture.loop.run_until(fixture.loop.now_s() + 30.0);
  ASSERT_EQ(fixture.monitor.health(0), HostHealth::isolated);
  double storage_stop = fixture.loop.now_s();
  fixture.beats.set(0, Channel::storage, false);
  fixture.loop.run_until(storage_stop + 30.0);
  const auto* failed = fixture.last_transition_to(0, HostHealth::failed);
  ASSERT_NE(failed, nullptr);
  EXPECT_GE(failed->at_s - storage_stop, fixture.monitor.settings().lease_ttl_s - 1.0);
  EXPECT_EQ(fixture.fencer.calls, std::vector<model::HostIndex>{0});
}

TEST(HostMonitor, IsolatedHostsAreFencedWhenConfigured) {
  DetectorSettings settings;
  settings.fence_isolated = true;
  Fixture fixture(4, settings);
  fixture.beats.set_network(3, false);
  fixture.loop.run_until(fixture.loop.now_s() + 20.0);
  EXPECT_EQ(fixture.fencer.calls, std::vector<model::HostIndex>{3});
  auto path = fixture.path(3);
  EXPECT_EQ(std::count(path.begin(), path.end(), HostHealth::failed), 0);
}

TEST(HostMonitor, OneSilentChannelOnlyMakesASuspect) {
  Fixture fixture(3);
  fixture.monitor.channel_lost(0, Channel::hypervisor);
  fixture.beats.set(0, Channel::hypervisor, false);
  fixture.loop.run_until(fixture.loop.now_s() + 120.0);
  EXPECT_EQ(fixture.monitor.health(0), HostHealth::suspect);
  EXPECT_TRUE(fixture.fencer.calls.empty());
  auto status = fixture.monitor.status();
  ASSERT_EQ(status.hosts.size(), 3u);
  EXPECT_TRUE(status.hosts[0].channels[0].lost);
}

TEST(HostMonitor, DisarmedMonitorDeclaresButDoesNotFence) {
  Fixture fixture(4);
  fixture.monitor.disarm();
  fixture.beats.set_all(1, false);
  fixture.loop.run_until(fixture.loop.now_s() + 60.0);
  EXPECT_EQ(fixture.monitor.health(1), HostHealth::failed);
  EXPECT_TRUE(fixture.fencer.calls.empty());
  auto status = fixture.monitor.status();
  EXPECT_FALSE(status.armed);
  EXPECT_NE(status.hosts[1].blocked_reason.find("disarmed"), std::string::npos);
  bool blocked_event = std::any_of(fixture.events.begin(), fixture.events.end(), [](const HostEvent& event) {
    return event.kind == HostEvent::Kind::fence_blocked && event.host == 1;
  });
  EXPECT_TRUE(blocked_event);

  fixture.monitor.arm();
  fixture.loop.run_until(fixture.loop.now_s() + 1.0);
  EXPECT_EQ(fixture.fencer.calls, std::vector<model::HostIndex>{1});
}

TEST(HostMonitor, StormGuardHoldsFencesWhenMostHostsGoSilentAtOnce) {
  Fixture fixture(6);
  for (model::HostIndex host : {0u, 1u, 2u, 3u}) fixture.beats.set_all(host, false);
  fixture.loop.run_until(fixture.loop.now_s() + 60.0);
  EXPECT_TRUE(fixture.fencer.calls.empty());
  auto status = fixture.monitor.status();
  EXPECT_TRUE(status.storm_guard_active);
  EXPECT_EQ(status.suspect_hosts, 4u);
  EXPECT_EQ(status.monitored_hosts, 6u);
  EXPECT_NE(status.hosts[0].blocked_reason.find("storm guard"), std::string::npos);

  // The controller's link comes back: every host is up again, nobody was fenced.
  for (model::HostIndex host : {0u, 1u, 2u, 3u}) fixture.beats.set_all(host, true);
  fixture.loop.run_until(fixture.loop.now_s() + 10.0);
  for (model::HostIndex host = 0; host < 6; ++host) EXPECT_EQ(fixture.monitor.health(host), HostHealth::up);
  EXPECT_FALSE(fixture.monitor.status().storm_guard_active);
  EXPECT_TRUE(fixture.fencer.calls.empty());
}

TEST(HostMonitor, StormGuardReleasesWhenFewHostsRemainSuspect) {
  Fixture fixture(6);
  for (model::HostIndex host : {0u, 1u, 2u, 3u}) fixture.beats.set_all(host, false);
  fixture.loop.run_until(fixture.loop.now_s() + 20.0);
  for (model::HostIndex host : {1u, 2u, 3u}) fixture.beats.set_all(host, true);
  fixture.loop.run_until(fixture.loop.now_s() + 20.0);
  EXPECT_EQ(fixture.fencer.calls, std::vector<model::HostIndex>{0});
}

TEST(HostMonitor, FenceRateLimitSpacesFences) {
  DetectorSettings settings;
  settings.fence_rate_limit = 1;
  settings.fence_rate_window_s = 100.0;
  Fixture fixture(8, settings);
  double start = fixture.loop.now_s();
  fixture.beats.set_all(0, false);
  fixture.beats.set_all(1, false);
  fixture.loop.run_until(start + 30.0);
  ASSERT_EQ(fixture.fencer.calls.size(), 1u);
  auto status = fixture.monitor.status();
  EXPECT_EQ(status.fences_in_window, 1u);
  model::HostIndex waiting = fixture.fencer.calls[0] == 0 ? 1 : 0;
  EXPECT_NE(status.hosts[waiting].blocked_reason.find("rate limit"), std::string::npos);
  fixture.loop.run_until(start + 120.0);
  EXPECT_EQ(fixture.fencer.calls.size(), 2u);
}

TEST(HostMonitor, TransientFenceFailureIsRetriedPermanentIsNot) {
  Fixture fixture(6);
  fixture.beats.set_all(0, false);
  fixture.beats.set_all(1, false);
  fixture.loop.run_until(fixture.loop.now_s() + 15.0);
  ASSERT_EQ(fixture.fencer.pending.size(), 2u);
  fixture.fencer.answer(0, env::OperationResult::failure("BMC unreachable"));
  fixture.fencer.answer(1, env::OperationResult::failure("BMC refused the credentials", true));
  fixture.loop.run_until(fixture.loop.now_s() + 30.0);
  EXPECT_EQ(std::count(fixture.fencer.calls.begin(), fixture.fencer.calls.end(), 0u), 2);
  EXPECT_EQ(std::count(fixture.fencer.calls.begin(), fixture.fencer.calls.end(), 1u), 1);
  EXPECT_EQ(fixture.monitor.health(1), HostHealth::failed);
  EXPECT_FALSE(fixture.monitor.recovery_started(1));
  auto status = fixture.monitor.status();
  EXPECT_TRUE(status.hosts[1].fence_error_permanent);
  EXPECT_NE(status.hosts[1].last_fence_error.find("credentials"), std::string::npos);
  EXPECT_NE(status.hosts[1].blocked_reason.find("confirm-down"), std::string::npos);

  // An operator's confirmation is the proof that remains.
  fixture.monitor.confirm_down(1, "alice");
  EXPECT_EQ(fixture.monitor.health(1), HostHealth::fenced);
  EXPECT_NE(fixture.last_transition_to(1, HostHealth::fenced)->reason.find("alice"), std::string::npos);
  EXPECT_TRUE(fixture.monitor.recovery_started(1));
}

TEST(HostMonitor, ConfirmDownDisregardsAFenceInFlight) {
  Fixture fixture(4);
  fixture.beats.set_all(2, false);
  fixture.loop.run_until(fixture.loop.now_s() + 15.0);
  ASSERT_EQ(fixture.monitor.health(2), HostHealth::fencing);
  fixture.monitor.confirm_down(2, "bob");
  fixture.fencer.answer(2, env::OperationResult::failure("late failure"));
  fixture.loop.run_until(fixture.loop.now_s() + 5.0);
  EXPECT_EQ(fixture.monitor.health(2), HostHealth::fenced);
}

TEST(HostMonitor, ConfirmDownIsRefusedForAHostThatIsNotLostAndNotKeptForALaterLoss) {
  Fixture fixture(6);
  EXPECT_FALSE(fixture.monitor.confirm_down(3, "carol"));  // up: nothing to confirm
  EXPECT_EQ(fixture.monitor.health(3), HostHealth::up);
  bool refused = std::any_of(fixture.events.begin(), fixture.events.end(), [](const HostEvent& event) {
    return event.host == 3 && event.kind == HostEvent::Kind::confirmation_refused &&
           event.reason.find("carol") != std::string::npos;
  });
  EXPECT_TRUE(refused);
  // Isolated (network silent, lease renewing: it runs): refused too.
  fixture.beats.set_network(5, false);
  fixture.loop.run_until(fixture.loop.now_s() + 15.0);
  ASSERT_EQ(fixture.monitor.health(5), HostHealth::isolated);
  EXPECT_FALSE(fixture.monitor.confirm_down(5, "carol"));
  EXPECT_EQ(fixture.monitor.health(5), HostHealth::isolated);
  // Its later loss is fenced, not taken as confirmed.
  fixture.beats.set_all(3, false);
  fixture.loop.run_until(fixture.loop.now_s() + 15.0);
  EXPECT_EQ(fixture.monitor.health(3), HostHealth::fencing);
  EXPECT_FALSE(fixture.monitor.recovery_started(3));
  // Confirmed during the loss: counts.
  EXPECT_TRUE(fixture.monitor.confirm_down(3, "carol"));
  EXPECT_EQ(fixture.monitor.health(3), HostHealth::fenced);
}

TEST(HostMonitor, AFencedHostHeardAgainIsBackAndItsFenceProvesNothing) {
  Fixture fixture(6);
  fixture.beats.set_all(2, false);
  fixture.loop.run_until(fixture.loop.now_s() + 15.0);
  ASSERT_EQ(fixture.monitor.health(2), HostHealth::fencing);
  fixture.fencer.answer(2, env::OperationResult::success());
  fixture.loop.run_until(fixture.loop.now_s() + 0.5);
  ASSERT_EQ(fixture.monitor.health(2), HostHealth::fenced);
  auto told = [&] {
    return std::count(fixture.fencer.recovered.begin(), fixture.fencer.recovered.end(), 2u);
  };
  EXPECT_EQ(told(), 1);  // add_host
  // Powered on again before recovery started: its heartbeats void the proof.
  fixture.beats.set_all(2, true);
  fixture.loop.run_until(fixture.loop.now_s() + 3.0);
  EXPECT_NE(fixture.monitor.health(2), HostHealth::fenced);
  EXPECT_FALSE(fixture.monitor.recovery_started(2));
  EXPECT_EQ(told(), 2);  // the loss ended: the fencer drops its proofs
  // A new loss needs a new fence.
  fixture.beats.set_all(2, false);
  fixture.loop.run_until(fixture.loop.now_s() + 20.0);
  EXPECT_EQ(fixture.monitor.health(2), HostHealth::fencing);
  EXPECT_EQ(std::count(fixture.fencer.calls.begin(), fixture.fencer.calls.end(), 2u), 2);
}

TEST(HostMonitor, HeartbeatsResumingBeforeTheFenceClearTheHost) {
  Fixture fixture(6);
  fixture.monitor.disarm();
  fixture.beats.set_all(4, false);
  fixture.loop.run_until(fixture.loop.now_s() + 15.0);
  ASSERT_EQ(fixture.monitor.health(4), HostHealth::failed);
  fixture.beats.set_all(4, true);
  fixture.loop.run_until(fixture.loop.now_s() + 5.0);
  EXPECT_EQ(fixture.monitor.health(4), HostHealth::up);
  fixture.monitor.arm();
  fixture.loop.run_until(fixture.loop.now_s() + 5.0);
  EXPECT_TRUE(fixture.fencer.calls.empty());
  // Its loss ended: the fencer was told to drop any proof of it.
  EXPECT_EQ(std::count(fixture.fencer.recovered.begin(), fixture.fencer.recovered.end(), 4u),
            2);  // add_host too
}

TEST(HostMonitor, HostWithoutStorageChannelFailsOnNetworkSilence) {
  VirtualLoop loop;
  ScriptedFencer fencer(loop);
  HostMonitor monitor(loop, fencer);
  monitor.add_host(0, ChannelSet::of({Channel::hypervisor}));
  monitor.add_host(1, ChannelSet::of({Channel::hypervisor}));
  monitor.add_host(2, ChannelSet::of({Channel::hypervisor}));
  // Host 0 never says anything after being added: it is declared failed like one that stops.
  std::function<void()> beat = [&] {
    monitor.heartbeat(1, Channel::hypervisor);
    monitor.heartbeat(2, Channel::hypervisor);
    loop.schedule_after(1.0, beat);
  };
  beat();
  loop.run_until(20.0);
  EXPECT_EQ(fencer.calls, std::vector<model::HostIndex>{0});
  EXPECT_FALSE(monitor.last_lease_renewal_s(0).has_value());
}

TEST(HostMonitor, RemovedHostIsForgotten) {
  Fixture fixture(3);
  fixture.monitor.remove_host(1);
  fixture.beats.set_all(1, false);
  fixture.loop.run_until(fixture.loop.now_s() + 60.0);
  EXPECT_TRUE(fixture.fencer.calls.empty());
  EXPECT_FALSE(fixture.monitor.monitored(1));
  EXPECT_EQ(fixture.monitor.status().monitored_hosts, 2u);
}

}  // namespace
}  // namespace revive::detect
