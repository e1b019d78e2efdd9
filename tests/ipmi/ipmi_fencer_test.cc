// Real fencing against openipmi's ipmi_sim BMCs on loopback: ipmitool -I lanplus -C 3 and fence_ipmilan
// --lanplus --cipher=3, alone and under the real detector + fence chain on a wall-clock loop.
#include <sys/stat.h>

#include <algorithm>
#include <optional>

#include <gtest/gtest.h>

#include "detect/host_monitor.h"
#include "drivers/ipmi/ipmi_fencer.h"
#include "drivers/realtime/wall_clock_loop.h"
#include "fence/fence_chain.h"
#include "fence/levels.h"
#include "ipmi/ipmi_sim_bmc.h"
#include "lab/real_processes.h"
#include "support/test_support.h"

namespace revive {
namespace {

using drivers::FenceAgentFencer;
using drivers::IpmitoolFencer;
using drivers::WallClockLoop;
using testing::IpmiSimHost;
using testing::TempDir;

#define REQUIRE_TOOLS()                                                                              \
  do {                                                                                               \
    for (const char* tool : {"ipmi_sim", "ipmitool"}) {                                              \
      if (!lab::have_tool(tool)) GTEST_SKIP() << tool << " not installed (scripts/install-deps.sh)"; \
    }                                                                                                \
  } while (false)

model::Cloud cloud_with(const std::vector<model::Bmc>& bmcs) {
  model::Cloud cloud;
  for (std::size_t i = 0; i < bmcs.size(); ++i) {
    model::Host host;
    host.name = "host-" + std::to_string(i);
    host.cpus = 16;
    host.memory_mib = 65536;
    host.bmc = bmcs[i];
    cloud.hosts.push_back(host);
  }
  cloud.rebuild_indexes();
  return cloud;
}

// Runs one fence through `fencer` on a wall-clock loop; returns the result.
env::OperationResult fence_now(WallClockLoop& loop, env::Fencer& fencer, model::HostIndex host,
                               double timeout_s = 60.0) {
  std::optional<env::OperationResult> result;
  fencer.fence(host, [&](const env::OperationResult& r) { result = r; });
  EXPECT_TRUE(loop.run_until([&] { return result.has_value(); }, timeout_s)) << "no answer";
  return result.value_or(env::OperationResult::failure("no answer"));
}

TEST(IpmitoolFencer, PowersOffAndConfirmsKillingTheHostsProcesses) {
  REQUIRE_TOOLS();
  TempDir dir;
  IpmiSimHost host(dir.path());
  ASSERT_TRUE(host.start_bmc()) << testing::read_file(dir.path() / "ipmi_sim.log");
  auto vms = host.start_vms(2);
  for (int pid : vms) ASSERT_TRUE(lab::process_alive(pid));

  auto cloud = cloud_with({host.bmc()});
  WallClockLoop loop;
  IpmitoolFencer fencer(loop, cloud);
  auto result = fence_now(loop, fencer, 0);
  EXPECT_TRUE(result.ok) << result.error;
  EXPECT_EQ(host.power_file(), "0\n");
  for (int pid : vms) EXPECT_TRUE(lab::eventually([&] { return !lab::process_alive(pid); }, 5.0));
  EXPECT_NE(host.calls().find("set power 0"), std::string::npos);

  std::optional<env::PowerState> power;
  fencer.power_status(0, [&](const env::OperationResult& r, env::PowerState state) {
    EXPECT_TRUE(r.ok) << r.error;
    power = state;
  });
  ASSERT_TRUE(loop.run_until([&] { return power.has_value(); }, 30.0));
  EXPECT_EQ(*power, env::PowerState::off);
}

TEST(IpmitoolFencer, AlreadyOffChassisCountsAsFenced) {
  REQUIRE_TOOLS();
  TempDir dir;
  IpmiSimHost host(dir.path());
  ASSERT_TRUE(host.start_bmc());
  auto off = lab::shell("ipmitool -I lanplus -C 3 -H 127.0.0.1 -p " + std::to_string(host.port()) +
                        " -U admin -f " + (dir.path() / "password").string() + " chassis power off");
  ASSERT_EQ(off.exit_status, 0) << off.err;
  auto calls_before = host.calls();

  auto cloud = cloud_with({host.bmc()});
  WallClockLoop loop;
  IpmitoolFencer fencer(loop, cloud);
  auto result = fence_now(loop, fencer, 0);
  EXPECT_TRUE(result.ok) << result.error;
  // No second power off was sent: the status read was enough.
  auto calls_after = host.calls().substr(calls_before.size());
  EXPECT_EQ(calls_after.find("set power"), std::string::npos) << calls_after;
}

TEST(IpmitoolFencer, WrongPasswordIsAClearPermanentErrorWithoutTheSecret) {
  REQUIRE_TOOLS();
  TempDir dir;
  IpmiSimHost host(dir.path());
  ASSERT_TRUE(host.start_bmc());
  auto vms = host.start_vms(1);
  auto wrong = dir.write("wrong-password", "Not-The-Right-One\n");
  ::chmod(wrong.c_str(), 0600);
  auto cloud = cloud_with({host.bmc(wrong.string())});
  WallClockLoop loop;
  IpmitoolFencer fencer(loop, cloud);
  auto result = fence_now(loop, fencer, 0);
  EXPECT_FALSE(result.ok);
  EXPECT_TRUE(result.permanent);
  EXPECT_NE(result.error.find("wrong password"), std::string::npos) << result.error;
  EXPECT_EQ(result.error.find("Not-The-Right-One"), std::string::npos);
  EXPECT_EQ(result.error.find(host.password()), std::string::npos);
  EXPECT_TRUE(lab::process_alive(vms[0]));
  EXPECT_EQ(host.power_file(), "1\n");
}

TEST(IpmitoolFencer, PasswordFromTheEnvironmentWorksAndMissingOneIsPermanent) {
  REQUIRE_TOOLS();
  TempDir dir;
  IpmiSimHost host(dir.path());
  ASSERT_TRUE(host.start_bmc());
  model::Bmc bmc = host.bmc();
  bmc.password_file.clear();
  auto cloud = cloud_with({bmc});
  WallClockLoop loop;
  drivers::IpmiOptions options;
  options.password_variable = "REVIVE_TEST_BMC_PASSWORD_" + std::to_string(::getpid());
  IpmitoolFencer fencer(loop, cloud, options);
  auto missing = fence_now(loop, fencer, 0);
  EXPECT_FALSE(missing.ok);
  EXPECT_TRUE(missing.permanent);
  EXPECT_NE(missing.error.find(options.password_variable), std::string::npos) << missing.error;

  ::setenv(options.password_variable.c_str(), host.password().c_str(), 1);
  auto result = fence_now(loop, fencer, 0);
  ::unsetenv(options.password_variable.c_str());
  EXPECT_TRUE(result.ok) << result.error;
  EXPECT_EQ(host.power_file(), "0\n");
}

TEST(IpmitoolFencer, UnreachableBmcIsTransientAndTheChainMovesOn) {
  REQUIRE_TOOLS();
  TempDir dir;
  IpmiSimHost host(dir.path());  // its BMC never started: nothing answers on the port
  auto cloud = cloud_with({host.bmc()});
  WallClockLoop loop;
  IpmitoolFencer ipmi(loop, cloud);
  fence::ManualFencer manual(loop, cloud, 60.0);
  fence::FenceChain chain(loop);
  chain.add_level("ipmi", ipmi);
  chain.add_level("manual", manual);
  chain.set_default_levels({"ipmi", "manual"});
  std::optional<fence::FenceReport> report;
  chain.set_observer([&](const fence::FenceReport& r) { report = r; });
  // The host is declared lost and the operator has already confirmed: the manual level succeeds as soon as
  // the chain reaches it.
  manual.host_lost(0);
  ASSERT_TRUE(manual.confirm(0));
  std::optional<env::OperationResult> result;
  chain.fence(0, [&](const env::OperationResult& r) { result = r; });
  ASSERT_TRUE(loop.run_until([&] { return result.has_value(); }, 60.0));
  EXPECT_TRUE(result->ok) << result->error;
  ASSERT_TRUE(report);
  EXPECT_EQ(report->level, "manual");
  ASSERT_GE(report->attempts.size(), 2u);
  EXPECT_EQ(report->attempts[0].level, "ipmi");
  EXPECT_FALSE(report->attempts[0].ok);
  EXPECT_FALSE(report->attempts[0].permanent);
  EXPECT_NE(report->attempts[0].error.find("unreachable"), std::string::npos) << report->attempts[0].error;
}

TEST(FenceAgentFencer, FenceIpmilanPowersOffAndReadsOff) {
  REQUIRE_TOOLS();
  if (!lab::have_tool("fence_ipmilan")) GTEST_SKIP() << "fence_ipmilan not installed (fence-agents)";
  TempDir dir;
  IpmiSimHost host(dir.path());
  ASSERT_TRUE(host.start_bmc());
  auto vms = host.start_vms(1);
  auto cloud = cloud_with({host.bmc()});
  WallClockLoop loop;
  FenceAgentFencer fencer(loop, cloud);  // fence_ipmilan, lanplus=1, cipher=3
  std::optional<env::PowerState> before;
  fencer.power_status(0, [&](const env::OperationResult& r, env::PowerState state) {
    EXPECT_TRUE(r.ok) << r.error;
    before = state;
  });
  ASSERT_TRUE(loop.run_until([&] { return before.has_value(); }, 60.0));
  EXPECT_EQ(*before, env::PowerState::on);

  auto result = fence_now(loop, fencer, 0, 120.0);
  EXPECT_TRUE(result.ok) << result.error;
  EXPECT_EQ(host.power_file(), "0\n");
  EXPECT_TRUE(lab::eventually([&] { return !lab::process_alive(vms[0]); }, 5.0));

  // Fencing again: already off, still fenced.
  auto again = fence_now(loop, fencer, 0, 120.0);
  EXPECT_TRUE(again.ok) << again.error;
}

TEST(FenceAgentFencer, WrongPasswordFailsWithoutTheSecret) {
  REQUIRE_TOOLS();
  if (!lab::have_tool("fence_ipmilan")) GTEST_SKIP() << "fence_ipmilan not installed (fence-agents)";
  TempDir dir;
  IpmiSimHost host(dir.path());
  ASSERT_TRUE(host.start_bmc());
  auto wrong = dir.write("wrong-password", "Not-The-Right-One\n");
  auto cloud = cloud_with({host.bmc(wrong.string())});
  WallClockLoop loop;
  FenceAgentFencer fencer(loop, cloud);
  auto result = fence_now(loop, fencer, 0, 120.0);
  EXPECT_FALSE(result.ok);
  EXPECT_NE(result.error.find("fence_ipmilan status failed"), std::string::npos) << result.error;
  EXPECT_EQ(result.error.find("Not-The-Right-One"), std::string::npos);
  EXPECT_EQ(host.power_file(), "1\n");
}

// ------------------------------------------------------------------------------ detector + fencing

// Three hosts beating every 0.1 s on two channels, scaled-down detector timings, real IPMI fencing.
// Simulated hosts h0, h1, ... under one directory, each with its BMC (ipmi_sim) started.
struct SimulatedHosts {
  ::testing::AssertionResult start(const std::filesystem::path& directory, int count) {
    for (int i = 0; i < count; ++i) {
      auto host_directory = directory / ("h" + std::to_string(i));
      std::filesystem::create_directories(host_directory);
      hosts.push_back(std::make_unique<IpmiSimHost>(host_directory));
      if (!hosts.back()->start_bmc())
        return ::testing::AssertionFailure() << "BMC of h" << i << " did not start";
      bmcs.push_back(hosts.back()->bmc());
    }
    return ::testing::AssertionSuccess();
  }
  std::vector<std::unique_ptr<IpmiSimHost>> hosts;
  std::vector<model::Bmc> bmcs;
};

struct LiveCluster {
  explicit LiveCluster(const model::Cloud& cloud_in, std::vector<std::string> levels = {"ipmi"})
      : cloud(cloud_in),
        ipmi(loop, cloud),
        agent(loop, cloud),
        chain(loop),
        monitor(loop, chain, settings()) {
    chain.add_level("ipmi", ipmi);
    chain.add_level("fence-agent", agent);
    chain.set_default_levels(std::move(levels));
    chain.set_observer([this](const fence::FenceReport& report) { reports.push_back(report); });
    monitor.subscribe([this](const detect::HostEvent& event) {
      events.push_back(event);
      if (event.kind == detect::HostEvent::Kind::transition && event.to == detect::HostHealth::fenced) {
        restarted.push_back(monitor.recovery_started(event.host));
      }
    });
    beating.assign(cloud.hosts.size(), true);
    for (model::HostIndex host = 0; host < cloud.hosts.size(); ++host) {
      monitor.add_host(host, detect::ChannelSet::of({detect::Channel::agent, detect::Channel::hypervisor}));
    }
    beat();
  }
  static detect::DetectorSettings settings() {
    detect::DetectorSettings settings;
    settings.network_phi = {.expected_interval_s = 0.1, .acceptable_pause_s = 0.2, .min_std_dev_s = 0.05};
    settings.storm_settle_s = 0.5;
    return settings;
  }
  void beat() {
    for (model::HostIndex host = 0; host < cloud.hosts.size(); ++host) {
      if (!beating[host]) continue;
      monitor.heartbeat(host, detect::Channel::agent);
      monitor.heartbeat(host, detect::Channel::hypervisor);
    }
    loop.schedule_after(0.1, [this] { beat(); });
  }
  bool has_transition(model::HostIndex host, detect::HostHealth to) const {
    return std::any_of(events.begin(), events.end(), [&](const detect::HostEvent& event) {
      return event.host == host && event.kind == detect::HostEvent::Kind::transition && event.to == to;
    });
  }

  model::Cloud cloud;
  WallClockLoop loop;
  IpmitoolFencer ipmi;
  FenceAgentFencer agent;
  fence::FenceChain chain;
  detect::HostMonitor monitor;
  std::vector<bool> beating;
  std::vector<detect::HostEvent> events;
  std::vector<fence::FenceReport> reports;
  std::vector<bool> restarted;
};

TEST(DetectAndFence, CrashedHostIsFencedByIpmiBeforeRecovery) {
  REQUIRE_TOOLS();
  TempDir dir;
  SimulatedHosts three;
  ASSERT_TRUE(three.start(dir.path(), 3));
  auto& hosts = three.hosts;
  auto& bmcs = three.bmcs;
  auto vms = hosts[1]->start_vms(2);
  auto other_vms = hosts[2]->start_vms(1);
  LiveCluster cluster(cloud_with(bmcs));
  cluster.loop.run_for(2.0);
  // Host 1 hangs: heartbeats stop, its processes (VMs) keep running until the BMC powers it off.
  cluster.beating[1] = false;
  ASSERT_TRUE(cluster.loop.run_until(
      [&] { return cluster.has_transition(1, detect::HostHealth::recovering); }, 60.0));
  EXPECT_TRUE(cluster.has_transition(1, detect::HostHealth::failed));
  EXPECT_TRUE(cluster.has_transition(1, detect::HostHealth::fenced));
  ASSERT_EQ(cluster.restarted, std::vector<bool>{true});
  EXPECT_EQ(hosts[1]->power_file(), "0\n");
  for (int pid : vms) EXPECT_TRUE(lab::eventually([&] { return !lab::process_alive(pid); }, 5.0));
  ASSERT_EQ(cluster.reports.size(), 1u);
  EXPECT_EQ(cluster.reports[0].level, "ipmi");
  // Healthy hosts untouched.
  EXPECT_TRUE(lab::process_alive(other_vms[0]));
  EXPECT_EQ(hosts[2]->power_file(), "1\n");
  EXPECT_EQ(cluster.monitor.health(0), detect::HostHealth::up);
}

TEST(DetectAndFence, UnreachableBmcFallsToTheFenceAgentLevel) {
  REQUIRE_TOOLS();
  if (!lab::have_tool("fence_ipmilan")) GTEST_SKIP() << "fence_ipmilan not installed (fence-agents)";
  TempDir dir;
  SimulatedHosts three;
  ASSERT_TRUE(three.start(dir.path(), 3));
  auto& hosts = three.hosts;
  auto& bmcs = three.bmcs;
  auto vms = hosts[0]->start_vms(1);
  LiveCluster cluster(cloud_with(bmcs), {"ipmi", "fence-agent"});
  // The ipmitool level gets a wrong port for host 0 (no BMC there); the fence agent level the right one.
  model::Bmc wrong = bmcs[0];
  wrong.port = static_cast<std::uint16_t>(lab::free_udp_port());
  model::Cloud ipmi_view = cloud_with({wrong, bmcs[1], bmcs[2]});
  IpmitoolFencer ipmi_wrong_port(cluster.loop, ipmi_view);
  cluster.chain.add_level("ipmi", ipmi_wrong_port);
  cluster.loop.run_for(2.0);
  cluster.beating[0] = false;
  ASSERT_TRUE(
      cluster.loop.run_until([&] { return cluster.has_transition(0, detect::HostHealth::fenced); }, 120.0));
  ASSERT_FALSE(cluster.reports.empty());
  const auto& report = cluster.reports.back();
  EXPECT_EQ(report.level, "fence-agent");
  ASSERT_EQ(report.attempts.size(), 2u);
  EXPECT_NE(report.attempts[0].error.find("unreachable"), std::string::npos) << report.attempts[0].error;
  EXPECT_EQ(hosts[0]->power_file(), "0\n");
  EXPECT_TRUE(lab::eventually([&] { return !lab::process_alive(vms[0]); }, 5.0));
}

TEST(DetectAndFence, WrongPasswordMeansNoFenceAndNoRestart) {
  REQUIRE_TOOLS();
  TempDir dir;
  SimulatedHosts three;
  ASSERT_TRUE(three.start(dir.path(), 3));
  auto& hosts = three.hosts;
  auto& bmcs = three.bmcs;
  auto wrong = dir.write("wrong-password", "Not-The-Right-One\n");
  bmcs[2].password_file = wrong.string();
  auto vms = hosts[2]->start_vms(1);
  LiveCluster cluster(cloud_with(bmcs));
  cluster.loop.run_for(2.0);
  cluster.beating[2] = false;
  ASSERT_TRUE(cluster.loop.run_until(
      [&] {
        return std::any_of(cluster.events.begin(), cluster.events.end(), [](const detect::HostEvent& event) {
          return event.kind == detect::HostEvent::Kind::fence_failed;
        });
      },
      60.0));
  cluster.loop.run_for(3.0);  // no retry follows a permanent failure
  EXPECT_EQ(cluster.monitor.health(2), detect::HostHealth::failed);
  EXPECT_FALSE(cluster.has_transition(2, detect::HostHealth::fenced));
  EXPECT_TRUE(cluster.restarted.empty());
  EXPECT_FALSE(cluster.monitor.recovery_started(2));
  auto status = cluster.monitor.status();
  EXPECT_TRUE(status.hosts[2].fence_error_permanent);
  EXPECT_NE(status.hosts[2].last_fence_error.find("wrong password"), std::string::npos)
      << status.hosts[2].last_fence_error;
  EXPECT_EQ(status.hosts[2].fence_attempts, 1u);
  EXPECT_TRUE(lab::process_alive(vms[0]));
  EXPECT_EQ(hosts[2]->power_file(), "1\n");
  for (const auto& event : cluster.events)
    EXPECT_EQ(event.reason.find("Not-The-Right-One"), std::string::npos);
}

}  // namespace
}  // namespace revive
