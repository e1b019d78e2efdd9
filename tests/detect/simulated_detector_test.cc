// The real detector and fencing chain on simulated heartbeats (heartbeat_sim::SimulatedCluster), over many
// seeds with crashes, isolation, full cuts, controller partitions and misbehaving BMCs. Every safety
// invariant is checked as events happen (see cluster.h); liveness (every crashed host ends up fenced) at the
// end.
#include <cstdlib>
#include <random>
#include <set>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "heartbeat_sim/cluster.h"

namespace revive::heartbeat_sim {
namespace {

using detect::HostHealth;

int seeds_from_environment(int fallback) {
  const char* text = std::getenv("REVIVE_SIM_SEEDS");
  return text ? std::max(1, std::atoi(text)) : fallback;
}

// The violations, each with the history of its host.
std::string describe(const SimulatedCluster& cluster) {
  std::string text;
  for (const auto& violation : cluster.violations()) {
    text += fmt::format("  t={:.2f} host {}: {}\n", violation.at_s, violation.host, violation.what);
    for (const auto& event : cluster.events()) {
      if (event.host != violation.host || event.at_s > violation.at_s) continue;
      text += fmt::format("    {:.3f} {} -> {}: {}", event.at_s, detect::to_string(event.from),
                          detect::to_string(event.to), event.reason);
      for (const auto& channel : event.channels) {
        text += fmt::format(" [{} phi {:.1f} silent {:.2f}]", detect::to_string(channel.channel), channel.phi,
                            channel.silent_s);
      }
      text += "\n";
    }
  }
  return text;
}

TEST(SimulatedDetector, RandomFaultsNeverFenceWrongNeverRestartUnfenced) {
#ifdef NDEBUG
  const int seeds = seeds_from_environment(2000);
#else
  const int seeds = seeds_from_environment(300);  // unoptimised builds: fewer (REVIVE_SIM_SEEDS overrides)
#endif
  const char* first_text = std::getenv("REVIVE_SIM_FIRST_SEED");
  const int first = first_text ? std::atoi(first_text) : 1;
  std::size_t crashes = 0, isolations = 0, cuts = 0, partitions = 0, fences = 0;
  for (int seed = first; seed < first + seeds; ++seed) {
    std::mt19937_64 random(seed);
    auto uniform = [&](double low, double high) {
      return std::uniform_real_distribution<double>(low, high)(random);
    };
    auto pick = [&](std::size_t count) { return static_cast<model::HostIndex>(random() % count); };

    ClusterOptions options;
    options.hosts = 8;
    options.seed = seed;
    options.heartbeat = {.interval_s = 1.0, .loss = 0.05, .jitter_s = 0.2};
    SimulatedCluster cluster(options);
    for (model::HostIndex host = 0; host < options.hosts; ++host) {
      double draw = uniform(0, 1);
      if (draw < 0.1)
        cluster.set_bmc(host, BmcBehaviour::unreachable);
      else if (draw < 0.2)
        cluster.set_bmc(host, BmcBehaviour::wrong_password);
      else if (draw < 0.4)
        cluster.set_bmc(host, BmcBehaviour::flaky);
    }

    std::set<model::HostIndex> crashed, isolated, cut;
    auto at = [&](double time, std::function<void()> action) {
      cluster.loop().schedule_after(time, std::move(action));
    };
    for (int i = 0, n = static_cast<int>(random() % 3); i < n; ++i) {
      model::HostIndex host = pick(options.hosts);
      crashed.insert(host);
      double time = uniform(20, 250);
      at(time, [&cluster, host] { cluster.crash(host); });
      if (std::getenv("REVIVE_SIM_TRACE")) std::cout << fmt::format("crash {} at {:.2f}\n", host, time);
    }
    for (int i = 0, n = static_cast<int>(random() % 3); i < n; ++i) {
      model::HostIndex host = pick(options.hosts);
      if (crashed.contains(host)) continue;
      isolated.insert(host);
      double start = uniform(20, 250);
      double length = uniform(5, 200);
      at(start, [&cluster, host] { cluster.isolate(host, true); });
      if (std::getenv("REVIVE_SIM_TRACE"))
        std::cout << fmt::format("isolate {} {:.2f}-{:.2f}\n", host, start, start + length);
      at(start + length, [&cluster, host] { cluster.isolate(host, false); });
    }
    if (random() % 4 == 0) {
      model::HostIndex host = pick(options.hosts);
      if (!crashed.contains(host) && !isolated.contains(host)) {
        cut.insert(host);
        double time = uniform(20, 250);
        at(time, [&cluster, host] { cluster.cut_off(host, true); });
        if (std::getenv("REVIVE_SIM_TRACE")) std::cout << fmt::format("cut {} at {:.2f}\n", host, time);
      }
    }
    if (random() % 5 == 0) {
      ++partitions;
      double start = uniform(20, 250);
      double length = uniform(3, 120);
      at(start, [&cluster] { cluster.controller_partition(true); });
      if (std::getenv("REVIVE_SIM_TRACE"))
        std::cout << fmt::format("partition {:.2f}-{:.2f}\n", start, start + length);
      at(start + length, [&cluster] { cluster.controller_partition(false); });
    }
    cluster.run_until(900.0);

    ASSERT_TRUE(cluster.violations().empty()) << "seed " << seed << ":\n" << describe(cluster);
    // Liveness: every crashed or cut-off host was fenced (its BMC or, failing that, its lease).
    for (model::HostIndex host : crashed) {
      HostHealth health = cluster.monitor().health(host);
      EXPECT_TRUE(health == HostHealth::recovering || health == HostHealth::recovered)
          << "seed " << seed << " crashed host " << host << " ends " << detect::to_string(health);
    }
    for (model::HostIndex host : cut) {
      EXPECT_FALSE(cluster.running(host))
          << "seed " << seed << " cut-off host " << host << " never self-fenced";
      HostHealth health = cluster.monitor().health(host);
      EXPECT_TRUE(health == HostHealth::recovering || health == HostHealth::recovered)
          << "seed " << seed << " cut-off host " << host << " ends " << detect::to_string(health);
    }
    // Hosts that were only isolated keep running and are never fenced.
    for (model::HostIndex host : isolated) {
      if (cut.contains(host)) continue;
      EXPECT_TRUE(cluster.running(host))
          << "seed " << seed << " isolated host " << host << " was powered off";
    }
    crashes += crashed.size();
    isolations += isolated.size();
    cuts += cut.size();
    fences += cluster.fences_confirmed();
  }
  RecordProperty("crashes", static_cast<int>(crashes));
  RecordProperty("isolations", static_cast<int>(isolations));
  RecordProperty("fences", static_cast<int>(fences));
  std::cout << fmt::format(
      "{} seeds: {} crashes, {} isolations, {} full cuts, {} controller partitions, {} fences\n", seeds,
      crashes, isolations, cuts, partitions, fences);
  EXPECT_GT(crashes, static_cast<std::size_t>(seeds) / 2);
  EXPECT_GT(isolations, static_cast<std::size_t>(seeds) / 2);
}

TEST(SimulatedDetector, ControllerPartitionFencesNobody) {
  for (int seed = 1; seed <= 200; ++seed) {
    ClusterOptions options;
    options.hosts = 10;
    options.seed = seed;
    options.heartbeat = {.interval_s = 1.0, .loss = 0.05, .jitter_s = 0.2};
    SimulatedCluster cluster(options);
    cluster.run_until(30.0);
    cluster.controller_partition(true);
    cluster.run_until(30.0 + 10.0 + seed % 100);
    cluster.controller_partition(false);
    cluster.run_until(200.0);
    ASSERT_TRUE(cluster.violations().empty()) << describe(cluster);
    EXPECT_EQ(cluster.fences_confirmed(), 0u) << "seed " << seed;
    for (model::HostIndex host = 0; host < options.hosts; ++host) {
      HostHealth health = cluster.monitor().health(host);  // a late heartbeat may make one suspect
      EXPECT_TRUE(health == HostHealth::up || health == HostHealth::suspect)
          << "seed " << seed << " host " << host << " " << detect::to_string(health);
    }
  }
}

TEST(SimulatedDetector, NoFalseFailureOverAThousandHostHoursWithLossAndJitter) {
  // 50 hosts x 20 h = 1,000 host-hours, 5% heartbeat loss on every channel, up to 200 ms jitter.
  ClusterOptions options;
  options.hosts = 50;
  options.seed = 2004;
  options.heartbeat = {.interval_s = 1.0, .loss = 0.05, .jitter_s = 0.2};
  SimulatedCluster cluster(options);
  cluster.run_until(20.0 * 3600.0);
  EXPECT_EQ(cluster.false_failed(), 0u);
  EXPECT_EQ(cluster.fences_confirmed(), 0u);
  EXPECT_TRUE(cluster.violations().empty()) << describe(cluster);
  std::size_t suspects = 0;
  for (const auto& event : cluster.events()) {
    if (event.kind == detect::HostEvent::Kind::transition && event.to == HostHealth::suspect) ++suspects;
  }
  std::cout << "1,000 host-hours: " << suspects << " transient suspicions, " << cluster.false_failed()
            << " false failures\n";
}

TEST(SimulatedDetector, CrashIsFencedWithinTenSecondsWithHealthyBmc) {
  for (int seed = 1; seed <= 100; ++seed) {
    ClusterOptions options;
    options.hosts = 8;
    options.seed = seed;
    SimulatedCluster cluster(options);
    cluster.run_until(30.0 + seed * 0.01);
    cluster.crash(3);
    cluster.run_until(60.0);
    ASSERT_GT(cluster.fenced_at(3), 0.0);
    EXPECT_LE(cluster.fenced_at(3) - cluster.crashed_at(3), 10.0) << "seed " << seed;
    HostHealth health = cluster.monitor().health(3);
    EXPECT_TRUE(health == HostHealth::recovering || health == HostHealth::recovered)
        << detect::to_string(health);
  }
}

TEST(SimulatedDetector, WrongPasswordWithoutOtherLevelNeverRecovers) {
  ClusterOptions options;
  options.hosts = 6;
  options.levels = {"ipmi"};
  SimulatedCluster cluster(options);
  cluster.set_bmc(2, BmcBehaviour::wrong_password);
  cluster.run_until(30.0);
  cluster.crash(2);
  cluster.run_until(600.0);
  EXPECT_EQ(cluster.monitor().health(2), HostHealth::failed);
  EXPECT_EQ(cluster.recoveries_started(), 0u);
  auto status = cluster.monitor().status();
  EXPECT_TRUE(status.hosts[2].fence_error_permanent);
  EXPECT_NE(status.hosts[2].last_fence_error.find("credentials"), std::string::npos);
  EXPECT_EQ(status.hosts[2].fence_attempts, 1u);
}

TEST(SimulatedDetector, UnreachableBmcFallsBackToTheLease) {
  ClusterOptions options;
  options.hosts = 6;
  SimulatedCluster cluster(options);
  cluster.set_bmc(1, BmcBehaviour::unreachable);
  cluster.run_until(30.0);
  cluster.crash(1);
  cluster.run_until(120.0);
  ASSERT_GT(cluster.fenced_at(1), 0.0);
  // The lease proof: lease ttl 10 s + watchdog 5 s + margin 1 s after the last renewal.
  EXPECT_GE(cluster.fenced_at(1) - cluster.crashed_at(1), 15.0);
  EXPECT_TRUE(cluster.violations().empty()) << describe(cluster);
}

TEST(SimulatedDetector, AnExpiredLeaseIsNoProofWhenTheAgentsCannotSelfFence) {
  ClusterOptions options;
  options.hosts = 6;
  options.agents_self_fence = false;  // no watchdog, no self-fence command: the records declare none
  SimulatedCluster cluster(options);
  cluster.set_bmc(1, BmcBehaviour::unreachable);
  cluster.set_bmc(2, BmcBehaviour::unreachable);
  cluster.run_until(30.0);
  cluster.crash(1);          // off, but nothing proves it
  cluster.cut_off(2, true);  // alive and running its VMs, cut off from everything
  cluster.run_until(300.0);
  EXPECT_LT(cluster.fenced_at(1), 0.0);
  EXPECT_EQ(cluster.monitor().health(2), detect::HostHealth::failed);
  EXPECT_TRUE(cluster.running(2));
  auto status = cluster.monitor().status();
  EXPECT_NE(status.hosts[2].last_fence_error.find("no working self-fence"), std::string::npos)
      << status.hosts[2].last_fence_error;
  EXPECT_TRUE(cluster.violations().empty()) << describe(cluster);
}

}  // namespace
}  // namespace revive::heartbeat_sim
