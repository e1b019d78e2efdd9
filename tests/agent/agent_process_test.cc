// The host agent as a real process against the controller side (HeartbeatReceiver, LeaseWatcher, HostMonitor,
// FenceChain) on a wall-clock loop: heartbeats verified, a killed agent is a failed host, an isolated one
// (its network namespace's link down, its lease still renewed) is isolated and never failed, an agent that
// loses both controller and lease self-fences (its command, its watchdog device) so that the lease fencer can
// prove it, and the lease fencer refuses an agent that cannot self-fence. Real processes on the wall clock:
// every wait is bounded and polls its condition; processes are cleaned up by pid.
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <optional>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "detect/heartbeat_protocol.h"
#include "detect/heartbeat_receiver.h"
#include "detect/host_monitor.h"
#include "drivers/realtime/wall_clock_loop.h"
#include "fence/fence_chain.h"
#include "fence/levels.h"
#include "lab/real_processes.h"
#include "store/sqlite_store.h"
#include "support/test_support.h"

namespace revive {
namespace {

using detect::Channel;
using detect::HostHealth;
using lab::BackgroundProcess;
using testing::TempDir;

// Records fence calls; never answers (a host that only needs to be declared).
class RecordingFencer final : public env::Fencer {
 public:
  void fence(model::HostIndex host, env::Completion) override { calls.push_back(host); }
  void power_status(model::HostIndex,
                    std::function<void(const env::OperationResult&, env::PowerState)>) override {}
  std::vector<model::HostIndex> calls;
};

// Kills a helper process (a simulated VM) by pid when the test ends, however it ends.
struct KillOnExit {
  int pid = -1;
  ~KillOnExit() {
    if (pid > 0) ::kill(pid, SIGKILL);
  }
};

// The host's current lease record in `lease_dir` (nullopt: no valid record).
std::optional<detect::SignedMessage> read_lease_record(const std::filesystem::path& lease_dir,
                                                       const std::string& host, const std::string& key) {
  std::string text;
  try {
    text = testing::read_file(lease_dir / (host + ".lease"));
  } catch (const std::exception&) {
    return std::nullopt;  // not written yet
  }
  auto decoded = detect::decode(text, key, detect::MessageKind::lease);
  if (decoded.error != detect::DecodeError::none) return std::nullopt;
  return decoded.message;
}

// Scaled-down timings (agent interval 0.1 s) so that tests take seconds.
detect::DetectorSettings fast_detector() {
  detect::DetectorSettings settings;
  // Pauses up to ~0.5 s are tolerated: the tests run beside others on a shared 2-core machine.
  settings.network_phi = {.expected_interval_s = 0.1, .acceptable_pause_s = 0.5, .min_std_dev_s = 0.05};
  settings.storage_phi = {.expected_interval_s = 0.1, .acceptable_pause_s = 0.6, .min_std_dev_s = 0.05};
  settings.lease_ttl_s = 1.5;
  settings.storm_settle_s = 0.5;
  return settings;
}

std::string describe_events(const std::vector<detect::HostEvent>& events) {
  std::string text;
  for (const auto& event : events) {
    text += fmt::format("{:.2f} h{} {} -> {}: {}\n", event.at_s, event.host, detect::to_string(event.from),
                        detect::to_string(event.to), event.reason);
  }
  return text;
}

struct Controller {
  Controller(const std::string& bind_address, const std::filesystem::path& lease_dir, env::Fencer& fencer,
             std::string key_text, detect::HostNames hosts)
      : key(std::move(key_text)),
        monitor(loop, fencer, fast_detector()),
        receiver(loop, {.bind_address = bind_address, .port = 0, .key = key, .max_skew_s = 30.0}, hosts,
                 [this](model::HostIndex host) { monitor.heartbeat(host, Channel::agent); }),
        leases(
            loop, {.directory = lease_dir.string(), .reader = {}, .key = key, .poll_s = 0.05}, hosts,
            [this](model::HostIndex host) { monitor.lease_checked(host); },
            [this](model::HostIndex host) { monitor.heartbeat(host, Channel::storage); },
            [this](model::HostIndex host, const detect::SelfFence& declared) {
              monitor.lease_self_fence(host, declared);
            }) {
    monitor.subscribe([this](const detect::HostEvent& event) { events.push_back(event); });
    for (const auto& [name, host] : hosts)
      monitor.add_host(host, detect::ChannelSet::of({Channel::agent, Channel::storage}));
    receiver.start();
    leases.start();
  }
  ~Controller() {
    receiver.stop();
    leases.stop();
  }
  bool ever(model::HostIndex host, HostHealth health) const {
    return std::any_of(events.begin(), events.end(), [&](const detect::HostEvent& event) {
      return event.host == host && event.kind == detect::HostEvent::Kind::transition && event.to == health;
    });
  }
  std::string history(model::HostIndex host) const {
    std::string text;
    for (const auto& event : events) {
      if (event.host != host) continue;
      text += std::string(detect::to_string(event.from)) + " -> " + std::string(detect::to_string(event.to)) +
              ": " + event.reason + "\n";
    }
    return text;
  }

  std::string key;
  drivers::WallClockLoop loop;
  detect::HostMonitor monitor;
  detect::HeartbeatReceiver receiver;
  detect::LeaseWatcher leases;
  std::vector<detect::HostEvent> events;
};

std::vector<std::string> agent_command(const std::string& host, const std::string& controller,
                                       const std::filesystem::path& key_file,
                                       const std::filesystem::path& lease_dir,
                                       std::vector<std::string> extra = {}) {
  std::vector<std::string> argv{REVIVE_AGENT,
                                "--host",
                                host,
                                "--controller",
                                controller,
                                "--key-file",
                                key_file.string(),
                                "--interval",
                                "0.1",
                                "--lease-dir",
                                lease_dir.string(),
                                "--lease-ttl",
                                "1",
                                "--controller-timeout",
                                "1",
                                "--watchdog",
                                "0.5"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

TEST(Agent, HeartbeatsAreVerifiedAndABadKeyIsRejected) {
  TempDir dir;
  auto key_file = dir.write("key", "shared-secret-key\n");
  auto bad_key_file = dir.write("bad-key", "some-other-key\n");
  std::filesystem::create_directories(dir.path() / "leases");
  RecordingFencer fencer;
  Controller controller("127.0.0.1", dir.path() / "leases", fencer, "shared-secret-key",
                        {{"h0", 0}, {"h1", 1}});
  std::string endpoint = "127.0.0.1:" + std::to_string(controller.receiver.port());
  BackgroundProcess good(agent_command("h0", endpoint, key_file, dir.path() / "leases"),
                         dir.path() / "h0.log");
  BackgroundProcess bad(agent_command("h1", endpoint, bad_key_file, dir.path() / "leases"),
                        dir.path() / "h1.log");
  // Bounded wait until everything the test checks has had time to happen.
  ASSERT_TRUE(controller.loop.run_until(
      [&] {
        return controller.receiver.counters().accepted > 10 &&
               controller.receiver.counters().bad_signature > 10 && !fencer.calls.empty() &&
               controller.leases.bad_records() > 0 &&
               testing::read_file(dir.path() / "h1.log").find("controller lost") != std::string::npos;
      },
      20.0))
      << controller.history(1) << testing::read_file(dir.path() / "h1.log");
  EXPECT_EQ(controller.monitor.health(0), HostHealth::up) << controller.history(0);
  // h1's heartbeats and lease are forged as far as the controller knows: it is silent, hence failed.
  EXPECT_TRUE(controller.ever(1, HostHealth::failed)) << controller.history(1);
  EXPECT_GT(controller.leases.bad_records(), 0u);
  EXPECT_EQ(fencer.calls, std::vector<model::HostIndex>{1});
  // The agent reports the controller lost: no valid ack ever reached it.
  EXPECT_TRUE(bad.running());
  EXPECT_NE(testing::read_file(dir.path() / "h1.log").find("controller lost"), std::string::npos);
}

TEST(Agent, KilledAgentIsDeclaredFailed) {
  TempDir dir;
  auto key_file = dir.write("key", "k\n");
  std::filesystem::create_directories(dir.path() / "leases");
  RecordingFencer fencer;
  Controller controller("127.0.0.1", dir.path() / "leases", fencer, "k", {{"h0", 0}, {"h1", 1}, {"h2", 2}});
  std::string endpoint = "127.0.0.1:" + std::to_string(controller.receiver.port());
  std::vector<BackgroundProcess> agents;
  for (const char* host : {"h0", "h1", "h2"}) {
    agents.emplace_back(agent_command(host, endpoint, key_file, dir.path() / "leases"),
                        dir.path() / (std::string(host) + ".log"));
  }
  auto all_up_and_renewing = [&] {
    for (model::HostIndex host = 0; host < 3; ++host) {
      auto renewal = controller.monitor.last_lease_renewal_s(host);
      if (controller.monitor.health(host) != HostHealth::up || !renewal || *renewal <= 0.5) return false;
    }
    return true;
  };
  ASSERT_TRUE(controller.loop.run_until(all_up_and_renewing, 15.0))
      << controller.history(0) << controller.history(1) << controller.history(2);
  agents[1].stop();  // SIGKILL: the host crashed
  ASSERT_TRUE(controller.loop.run_until([&] { return !fencer.calls.empty(); }, 20.0))
      << controller.history(1);
  EXPECT_EQ(fencer.calls, std::vector<model::HostIndex>{1});
  EXPECT_TRUE(controller.ever(1, HostHealth::failed));
  EXPECT_FALSE(controller.ever(1, HostHealth::isolated));
  EXPECT_EQ(controller.monitor.health(0), HostHealth::up);
  EXPECT_EQ(controller.monitor.health(2), HostHealth::up);
}

TEST(Agent, LosingControllerAndLeaseSelfFencesAndTheLeaseFencerProvesIt) {
  TempDir dir;
  auto key_file = dir.write("key", "k\n");
  auto shared = dir.path() / "shared-leases";
  std::filesystem::create_directories(shared);
  // The agent reaches the shared storage through a link the test can cut.
  auto agent_view = dir.path() / "agent-view";
  std::filesystem::create_directory_symlink(shared, agent_view);
  auto marker = dir.path() / "self-fenced";
  auto vm = lab::shell("sleep 1000 </dev/null >/dev/null 2>&1 & echo $!");
  int vm_pid = std::stoi(vm.out);
  KillOnExit vm_guard{vm_pid};

  // The controller: agent + storage channels, fence chain with the lease level only.
  struct LeaseController {
    explicit LeaseController(const std::filesystem::path& lease_dir)
        : chain(loop),
          monitor(loop, chain, fast_detector()),
          lease(loop, monitor,
                {.lease_ttl_s = 1.0,
                 .controller_timeout_s = 1.0,
                 .watchdog_s = 0.5,
                 .margin_s = 0.5,
                 .read_recheck_s = 0.05,
                 .read_wait_s = 10.0}),
          receiver(loop, {.bind_address = "127.0.0.1", .port = 0, .key = "k", .max_skew_s = 30.0},
                   {{"h0", 0}, {"h1", 1}, {"h2", 2}},
                   [this](model::HostIndex host) { monitor.heartbeat(host, Channel::agent); }),
          other_receiver(loop, {.bind_address = "127.0.0.1", .port = 0, .key = "k", .max_skew_s = 30.0},
                         {{"h0", 0}, {"h1", 1}, {"h2", 2}},
                         [this](model::HostIndex host) { monitor.heartbeat(host, Channel::agent); }),
          leases(
              loop, {.directory = lease_dir.string(), .reader = {}, .key = "k", .poll_s = 0.05},
              {{"h0", 0}, {"h1", 1}, {"h2", 2}},
              [this](model::HostIndex host) { monitor.lease_checked(host); },
              [this](model::HostIndex host) { monitor.heartbeat(host, Channel::storage); },
              [this](model::HostIndex host, const detect::SelfFence& declared) {
                monitor.lease_self_fence(host, declared);
              }) {
      chain.add_level("lease", lease);
      chain.set_default_levels({"lease"});
      monitor.subscribe([this](const detect::HostEvent& event) {
        if (event.kind == detect::HostEvent::Kind::transition && event.to == HostHealth::fenced) {
          fenced_at = loop.now_s();
        }
      });
      for (model::HostIndex host = 0; host < 3; ++host) {
        monitor.add_host(host, detect::ChannelSet::of({Channel::agent, Channel::storage}));
      }
      receiver.start();
      other_receiver.start();
      leases.start();
    }
    ~LeaseController() {
      receiver.stop();
      other_receiver.stop();
      leases.stop();
    }
    drivers::WallClockLoop loop;
    fence::FenceChain chain;
    detect::HostMonitor monitor;
    fence::LeaseFencer lease;
    detect::HeartbeatReceiver receiver;        // h0 talks to this one
    detect::HeartbeatReceiver other_receiver;  // h1 and h2 to this one
    detect::LeaseWatcher leases;
    std::optional<double> fenced_at;
  };
  LeaseController controller(shared);
  std::string endpoint = "127.0.0.1:" + std::to_string(controller.receiver.port());
  std::string self_fence = "kill -9 " + std::to_string(vm_pid) + "; date +%s.%N > " + marker.string();
  std::vector<BackgroundProcess> agents;
  agents.emplace_back(
      agent_command("h0", endpoint, key_file, agent_view, {"--self-fence-command", self_fence}),
      dir.path() / "h0.log");
  std::string other_endpoint = "127.0.0.1:" + std::to_string(controller.other_receiver.port());
  for (const char* host : {"h1", "h2"}) {
    agents.emplace_back(agent_command(host, other_endpoint, key_file, shared),
                        dir.path() / (std::string(host) + ".log"));
  }
  // Up, renewing, and its lease record declares the command (500 ms: --watchdog 0.5).
  ASSERT_TRUE(controller.loop.run_until(
      [&] {
        auto renewal = controller.monitor.last_lease_renewal_s(0);
        auto within = controller.monitor.self_fence_within_s(0);
        return controller.monitor.health(0) == HostHealth::up && renewal && *renewal > 0.5 && within &&
               *within == 0.5;
      },
      15.0))
      << testing::read_file(dir.path() / "h0.log");
  auto record = read_lease_record(shared, "h0", "k");
  ASSERT_TRUE(record);
  EXPECT_TRUE(record->self_fence.command);
  EXPECT_FALSE(record->self_fence.watchdog);

  // h0 is cut off: its storage path breaks and the controller no longer hears it (its receiver stops).
  std::filesystem::remove(agent_view);
  std::filesystem::create_directory_symlink(dir.path() / "nowhere", agent_view);
  controller.receiver.stop();
  ASSERT_TRUE(controller.loop.run_until([&] { return controller.fenced_at.has_value(); }, 30.0))
      << testing::read_file(dir.path() / "h0.log");
  // The agent self-fenced (self-fence command ran, host processes gone) before the controller called it
  // fenced.
  EXPECT_TRUE(std::filesystem::exists(marker)) << testing::read_file(dir.path() / "h0.log");
  EXPECT_TRUE(lab::eventually([&] { return !lab::process_alive(vm_pid); }, 2.0));
  EXPECT_TRUE(lab::eventually([&] { return !agents[0].running(); }, 2.0));
  EXPECT_NE(testing::read_file(dir.path() / "h0.log").find("self-fencing"), std::string::npos);
  ASSERT_TRUE(std::filesystem::exists(marker));
  // The proof came after the watchdog command ran (both on this machine's clock).
  EXPECT_TRUE(agents[1].running());
  EXPECT_TRUE(agents[2].running());
  EXPECT_EQ(controller.monitor.health(1), HostHealth::up);
  EXPECT_EQ(controller.monitor.health(2), HostHealth::up);
}

// The controller side of the tests below: agent + storage channels, the lease level then a manual level
// (which never gets a confirmation), every fence report kept.
struct LeaseOnlyController {
  LeaseOnlyController(const std::filesystem::path& lease_dir, detect::HostNames hosts)
      : cloud(cloud_of(hosts)),
        chain(loop),
        monitor(loop, chain, fast_detector()),
        lease(loop, monitor,
              {.lease_ttl_s = 1.0,
               .controller_timeout_s = 1.0,
               .watchdog_s = 0.5,
               .margin_s = 0.5,
               .read_recheck_s = 0.05,
               .read_wait_s = 10.0}),
        manual(loop, cloud, 0.5),
        receiver(loop, {.bind_address = "127.0.0.1", .port = 0, .key = "k", .max_skew_s = 30.0}, hosts,
                 [this](model::HostIndex host) { monitor.heartbeat(host, Channel::agent); }),
        leases(
            loop, {.directory = lease_dir.string(), .reader = {}, .key = "k", .poll_s = 0.05}, hosts,
            [this](model::HostIndex host) { monitor.lease_checked(host); },
            [this](model::HostIndex host) { monitor.heartbeat(host, Channel::storage); },
            [this](model::HostIndex host, const detect::SelfFence& declared) {
              monitor.lease_self_fence(host, declared);
            }) {
    chain.add_level("lease", lease);
    chain.add_level("manual", manual);
    chain.set_default_levels({"lease", "manual"});
    chain.set_observer([this](const fence::FenceReport& report) { reports.push_back(report); });
    monitor.subscribe([this](const detect::HostEvent& event) { events.push_back(event); });
    for (const auto& [name, host] : hosts) {
      monitor.add_host(host, detect::ChannelSet::of({Channel::agent, Channel::storage}));
    }
    receiver.start();
    leases.start();
  }
  ~LeaseOnlyController() {
    receiver.stop();
    leases.stop();
  }
  static model::Cloud cloud_of(const detect::HostNames& hosts) {
    model::Cloud result;
    result.hosts.resize(hosts.size());
    for (const auto& [name, host] : hosts) result.hosts[host].name = name;
    return result;
  }
  bool ever(model::HostIndex host, HostHealth health) const {
    return std::any_of(events.begin(), events.end(), [&](const detect::HostEvent& event) {
      return event.host == host && event.kind == detect::HostEvent::Kind::transition && event.to == health;
    });
  }
  std::optional<std::string> lease_error(model::HostIndex host) const {
    for (const auto& report : reports) {
      if (report.host != host) continue;
      for (const auto& attempt : report.attempts) {
        if (attempt.level == "lease" && !attempt.ok) return attempt.error;
      }
    }
    return std::nullopt;
  }
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(receiver.port()); }

  model::Cloud cloud;
  drivers::WallClockLoop loop;
  fence::FenceChain chain;
  detect::HostMonitor monitor;
  fence::LeaseFencer lease;
  fence::ManualFencer manual;
  detect::HeartbeatReceiver receiver;
  detect::LeaseWatcher leases;
  std::vector<fence::FenceReport> reports;
  std::vector<detect::HostEvent> events;
};

TEST(Agent, LeaseLevelRefusesAHostWhoseAgentCannotSelfFence) {
  TempDir dir;
  auto key_file = dir.write("key", "k\n");
  auto shared = dir.path() / "shared-leases";
  std::filesystem::create_directories(shared);
  auto agent_view = dir.path() / "agent-view";
  std::filesystem::create_directory_symlink(shared, agent_view);
  LeaseOnlyController controller(shared, {{"h0", 0}});
  // No --watchdog-device, no --self-fence-command: the agent can only exit.
  BackgroundProcess agent(agent_command("h0", controller.endpoint(), key_file, agent_view),
                          dir.path() / "h0.log");
  ASSERT_TRUE(controller.loop.run_until(
      [&] {
        auto renewal = controller.monitor.last_lease_renewal_s(0);
        return controller.monitor.health(0) == HostHealth::up && renewal && *renewal > 0.5;
      },
      15.0))
      << testing::read_file(dir.path() / "h0.log");
  auto record = read_lease_record(shared, "h0", "k");
  ASSERT_TRUE(record);
  EXPECT_FALSE(record->self_fence.working());
  EXPECT_FALSE(controller.monitor.self_fence_within_s(0));

  // Cut off from storage and controller: the agent gives up, but nothing stops its VMs.
  std::filesystem::remove(agent_view);
  std::filesystem::create_directory_symlink(dir.path() / "nowhere", agent_view);
  controller.receiver.stop();
  ASSERT_TRUE(controller.loop.run_until([&] { return controller.lease_error(0).has_value(); }, 30.0))
      << testing::read_file(dir.path() / "h0.log");
  EXPECT_NE(controller.lease_error(0)->find("no working self-fence"), std::string::npos)
      << *controller.lease_error(0);
  EXPECT_TRUE(controller.ever(0, HostHealth::failed));
  EXPECT_FALSE(controller.ever(0, HostHealth::fenced));  // the chain moved on (manual), no proof
  EXPECT_TRUE(lab::eventually([&] { return !agent.running(); }, 5.0));
  EXPECT_NE(testing::read_file(dir.path() / "h0.log").find("no self-fence configured"), std::string::npos)
      << testing::read_file(dir.path() / "h0.log");
}

TEST(Agent, WatchdogDeviceIsPettedEachRenewalAndNotMagicClosedOnSelfFence) {
  TempDir dir;
  auto key_file = dir.write("key", "k\n");
  auto shared = dir.path() / "shared-leases";
  std::filesystem::create_directories(shared);
  auto agent_view = dir.path() / "agent-view";
  std::filesystem::create_directory_symlink(shared, agent_view);
  auto device = dir.write("watchdog", "");  // a fake watchdog device: a regular file
  auto device_bytes = [&] { return testing::read_file(device); };
  LeaseOnlyController controller(shared, {{"h0", 0}});
  BackgroundProcess agent(agent_command("h0", controller.endpoint(), key_file, agent_view,
                                        {"--watchdog-device", device.string()}),
                          dir.path() / "h0.log");
  // Petted about once per renewal, and the lease record declares the watchdog.
  ASSERT_TRUE(controller.loop.run_until(
      [&] {
        auto record = read_lease_record(shared, "h0", "k");
        return record && record->sequence >= 10 && controller.monitor.self_fence_within_s(0).has_value();
      },
      15.0))
      << testing::read_file(dir.path() / "h0.log");
  auto record = read_lease_record(shared, "h0", "k");
  ASSERT_TRUE(record);
  std::string pets = device_bytes();
  EXPECT_TRUE(record->self_fence.watchdog);
  EXPECT_FALSE(record->self_fence.command);
  EXPECT_EQ(record->self_fence.within_ms, 500);
  EXPECT_EQ(pets.find('V'), std::string::npos);
  EXPECT_GE(static_cast<double>(pets.size()), static_cast<double>(record->sequence) - 3.0) << pets;
  EXPECT_LE(static_cast<double>(pets.size()), static_cast<double>(record->sequence) + 3.0) << pets;

  // Controller and lease lost: the agent stops petting, holds the device, never writes the magic 'V'.
  std::filesystem::remove(agent_view);
  std::filesystem::create_directory_symlink(dir.path() / "nowhere", agent_view);
  controller.receiver.stop();
  ASSERT_TRUE(lab::eventually(
      [&] {
        return testing::read_file(dir.path() / "h0.log").find("holding the watchdog") != std::string::npos;
      },
      15.0))
      << testing::read_file(dir.path() / "h0.log");
  std::string at_self_fence = device_bytes();
  EXPECT_EQ(at_self_fence.find('V'), std::string::npos);
  // No pet for a while (bounded: waits for a write that must not come).
  EXPECT_FALSE(lab::eventually([&] { return device_bytes() != at_self_fence; }, 1.0));
  EXPECT_TRUE(agent.running());  // holds the device until the host resets
  // The lease level counts the expired lease as proof: the record declared a working watchdog.
  ASSERT_TRUE(controller.loop.run_until([&] { return controller.ever(0, HostHealth::fenced); }, 20.0))
      << controller.lease_error(0).value_or("") << testing::read_file(dir.path() / "h0.log");
  // Stopped (SIGTERM) while self-fenced: still no magic close.
  agent.signal(SIGTERM);
  EXPECT_TRUE(lab::eventually([&] { return !agent.running(); }, 5.0));
  EXPECT_EQ(device_bytes(), at_self_fence);
  EXPECT_NE(testing::read_file(dir.path() / "h0.log").find("stays armed"), std::string::npos);
}

TEST(Agent, AFailedSelfFenceCommandWithdrawsTheDeclarationWhenTheLeaseCanBeWritten) {
  TempDir dir;
  auto key_file = dir.write("key", "k\n");
  auto shared = dir.path() / "shared-leases";
  std::filesystem::create_directories(shared);
  auto agent_view = dir.path() / "agent-view";
  std::filesystem::create_directory_symlink(shared, agent_view);
  LeaseOnlyController controller(shared, {{"h0", 0}});
  // The command fails (the host is not off), after the storage path came back.
  std::string command = "ln -sfn " + shared.string() + " " + agent_view.string() + "; exit 1";
  BackgroundProcess agent(
      agent_command("h0", controller.endpoint(), key_file, agent_view, {"--self-fence-command", command}),
      dir.path() / "h0.log");
  ASSERT_TRUE(
      controller.loop.run_until([&] { return controller.monitor.self_fence_within_s(0).has_value(); }, 15.0))
      << testing::read_file(dir.path() / "h0.log");
  std::filesystem::remove(agent_view);
  std::filesystem::create_directory_symlink(dir.path() / "nowhere", agent_view);
  controller.receiver.stop();
  ASSERT_TRUE(lab::eventually([&] { return !agent.running(); }, 15.0))
      << testing::read_file(dir.path() / "h0.log");
  std::string log = testing::read_file(dir.path() / "h0.log");
  EXPECT_NE(log.find("self-fence command exited with 1"), std::string::npos) << log;
  EXPECT_NE(log.find("self-fence declaration withdrawn"), std::string::npos) << log;
  auto last = read_lease_record(shared, "h0", "k");
  ASSERT_TRUE(last);
  EXPECT_FALSE(last->self_fence.working());
  ASSERT_TRUE(controller.loop.run_until([&] { return !controller.monitor.self_fence_within_s(0); }, 5.0));
  EXPECT_FALSE(controller.ever(0, HostHealth::fenced));
}

TEST(Agent, CleanStopWithdrawsTheSelfFenceThenMagicClosesTheWatchdog) {
  TempDir dir;
  auto key_file = dir.write("key", "k\n");
  auto shared = dir.path() / "shared-leases";
  std::filesystem::create_directories(shared);
  auto device = dir.write("watchdog", "");
  LeaseOnlyController controller(shared, {{"h0", 0}});
  BackgroundProcess agent(
      agent_command("h0", controller.endpoint(), key_file, shared,
                    {"--watchdog-device", device.string(), "--self-fence-command", "true"}),
      dir.path() / "h0.log");
  ASSERT_TRUE(controller.loop.run_until(
      [&] {
        auto within = controller.monitor.self_fence_within_s(0);
        return controller.monitor.health(0) == HostHealth::up && within;
      },
      15.0))
      << testing::read_file(dir.path() / "h0.log");
  auto before = read_lease_record(shared, "h0", "k");
  ASSERT_TRUE(before);
  EXPECT_EQ(detect::to_string(before->self_fence), "watchdog+command:500");
  agent.signal(SIGTERM);
  ASSERT_TRUE(lab::eventually([&] { return !agent.running(); }, 5.0));
  // The last record withdraws the declaration, then the watchdog got its magic close.
  auto last = read_lease_record(shared, "h0", "k");
  ASSERT_TRUE(last);
  EXPECT_GT(last->sequence, before->sequence);
  EXPECT_FALSE(last->self_fence.working());
  std::string bytes = testing::read_file(device);
  ASSERT_FALSE(bytes.empty());
  EXPECT_EQ(bytes.back(), 'V');
  // The controller reads it: the lease proves nothing once this host is silent.
  ASSERT_TRUE(controller.loop.run_until([&] { return !controller.monitor.self_fence_within_s(0); }, 5.0));
}

TEST(Agent, LeaseRecordInTheStateStoreTellsIsolationFromACrash) {
  TempDir dir;
  auto key_file = dir.write("key", "k\n");
  std::string state = (dir.path() / "state.db").string();
  // The controller creates the store before anything else opens it (its lease watcher, the agents): two
  // connections creating one fresh SQLite file at once can fail with "database is locked".
  { store::SqliteStore create(state); }
  RecordingFencer fencer;
  drivers::WallClockLoop loop;
  detect::HostMonitor monitor(loop, fencer, fast_detector());
  std::vector<detect::HostEvent> events;
  monitor.subscribe([&](const detect::HostEvent& event) { events.push_back(event); });
  detect::HostNames hosts{{"h0", 0}, {"h1", 1}, {"h2", 2}, {"h3", 3}, {"h4", 4}};
  for (model::HostIndex host = 0; host < 5; ++host) {
    monitor.add_host(host, detect::ChannelSet::of({Channel::agent, Channel::storage}));
  }
  // Each host's agent talks to its own receiver so that the test can cut one host off the controller.
  std::vector<std::unique_ptr<detect::HeartbeatReceiver>> receivers;
  for (int i = 0; i < 5; ++i) {
    receivers.push_back(std::make_unique<detect::HeartbeatReceiver>(
        loop, detect::ReceiverOptions{.bind_address = "127.0.0.1", .port = 0, .key = "k", .max_skew_s = 30.0},
        hosts, [&](model::HostIndex host) { monitor.heartbeat(host, Channel::agent); }));
    receivers.back()->start();
  }
  // The controller reads the leases from the state store on the watcher's thread (its own connection).
  auto reader_store = std::make_shared<std::unique_ptr<store::SqliteStore>>();
  detect::LeaseWatcherOptions lease_options;
  lease_options.key = "k";
  lease_options.poll_s = 0.05;
  lease_options.reader = [reader_store, state]() -> std::optional<detect::LeaseRecords> {
    try {
      if (!*reader_store) *reader_store = std::make_unique<store::SqliteStore>(state);
      return (*reader_store)->leases();
    } catch (const env::StoreError&) {
      return std::nullopt;
    }
  };
  detect::LeaseWatcher leases(
      loop, lease_options, hosts, [&](model::HostIndex host) { monitor.lease_checked(host); },
      [&](model::HostIndex host) { monitor.heartbeat(host, Channel::storage); });
  leases.start();
  std::vector<BackgroundProcess> agents;
  for (int i = 0; i < 5; ++i) {
    std::string host = "h" + std::to_string(i);
    auto argv = agent_command(host, "127.0.0.1:" + std::to_string(receivers[i]->port()), key_file,
                              dir.path() / "unused", {});
    // --lease-store instead of --lease-dir.
    auto at = std::find(argv.begin(), argv.end(), "--lease-dir");
    *at = "--lease-store";
    *(at + 1) = state;
    // Five agents share one SQLite file: give a renewal that waits on the others' writes time before the
    // agent counts its lease lost (and would self-fence once the controller is gone too).
    *(std::find(argv.begin(), argv.end(), "--lease-ttl") + 1) = "3";
    agents.emplace_back(argv, dir.path() / (host + ".log"));
  }
  // Five agent processes start on a machine that may be busy: wait (bounded) until every host is up and
  // h0's renewals are seen, not only the initial baseline.
  auto all_up_and_renewing = [&] {
    for (model::HostIndex host = 0; host < 5; ++host) {
      if (monitor.health(host) != HostHealth::up) return false;
    }
    auto renewal = monitor.last_lease_renewal_s(0);
    return renewal.has_value() && *renewal > 1.0;
  };
  auto agent_logs = [&] {
    std::string text;
    for (int i = 0; i < 5; ++i) {
      text += testing::read_file(dir.path() / ("h" + std::to_string(i) + ".log"));
    }
    return text;
  };
  ASSERT_TRUE(loop.run_until(all_up_and_renewing, 15.0)) << describe_events(events) << agent_logs();
  ASSERT_TRUE(fencer.calls.empty()) << describe_events(events);

  receivers[0]->stop();  // h0 cut off from the controller; its lease record keeps being renewed
  agents[2].stop();      // h2 crashes
  ASSERT_TRUE(loop.run_until(
      [&] { return monitor.health(0) == HostHealth::isolated && !fencer.calls.empty(); }, 20.0))
      << "h0 " << detect::to_string(monitor.health(0)) << ", h2 " << detect::to_string(monitor.health(2));
  // h0 stays isolated, h2 fenced once (bounded: waits for a change that must not come).
  EXPECT_FALSE(loop.run_until(
      [&] { return monitor.health(0) != HostHealth::isolated || fencer.calls.size() != 1; }, 1.0));
  EXPECT_EQ(monitor.health(0), HostHealth::isolated);
  EXPECT_EQ(fencer.calls, std::vector<model::HostIndex>{2});
  EXPECT_EQ(monitor.health(1), HostHealth::up);
  bool h0_failed = std::any_of(events.begin(), events.end(), [](const detect::HostEvent& event) {
    return event.host == 0 && event.to == HostHealth::failed;
  });
  EXPECT_FALSE(h0_failed);
  leases.stop();
  for (auto& receiver : receivers) receiver->stop();
}

// ------------------------------------------------------------------------------------ network namespace

// A network namespace joined to the test's namespace by a veth pair on a private /30 in 169.254.0.0/16
// (link-local, addresses created here only). Removed (with its veth) by the destructor.
class Namespace {
 public:
  Namespace() {
    int tag = static_cast<int>(::getpid() % 60000);
    name_ = "rv" + std::to_string(tag);
    host_link_ = "rvh" + std::to_string(tag);
    inner_link_ = "rvn" + std::to_string(tag);
    int third = 100 + (tag / 64) % 150;
    int fourth = (tag % 64) * 4;
    host_address_ = "169.254." + std::to_string(third) + "." + std::to_string(fourth + 1);
    inner_address_ = "169.254." + std::to_string(third) + "." + std::to_string(fourth + 2);
    ok_ = run("ip netns add " + name_) &&
          run("ip link add " + host_link_ + " type veth peer name " + inner_link_) &&
          run("ip link set " + inner_link_ + " netns " + name_) &&
          run("ip addr add " + host_address_ + "/30 dev " + host_link_) &&
          run("ip link set " + host_link_ + " up") &&
          run("ip netns exec " + name_ + " ip addr add " + inner_address_ + "/30 dev " + inner_link_) &&
          run("ip netns exec " + name_ + " ip link set " + inner_link_ + " up") &&
          run("ip netns exec " + name_ + " ip link set lo up");
  }
  ~Namespace() {
    lab::shell("ip link del " + host_link_ + " 2>/dev/null", 10.0);
    lab::shell("ip netns del " + name_ + " 2>/dev/null", 10.0);
  }
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  void set_link(bool up) { run("ip link set " + host_link_ + (up ? " up" : " down")); }
  const std::string& name() const { return name_; }
  const std::string& host_address() const { return host_address_; }

 private:
  bool run(const std::string& command) {
    auto result = lab::shell(command + " 2>&1", 10.0);
    if (result.exit_status != 0) error_ += command + ": " + result.out;
    return result.exit_status == 0;
  }
  std::string name_, host_link_, inner_link_, host_address_, inner_address_, error_;
  bool ok_ = false;
};

TEST(Agent, IsolatedInANetworkNamespaceIsIsolatedNotFailedAndAppliesItsResponse) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for ip netns";
  if (!lab::have_tool("ip")) GTEST_SKIP() << "iproute2 not installed";
  Namespace ns;
  if (!ns.ok()) GTEST_SKIP() << "cannot set up a network namespace here: " << ns.error();
  TempDir dir;
  auto key_file = dir.write("key", "k\n");
  std::filesystem::create_directories(dir.path() / "leases");
  auto vm = lab::shell("sleep 1000 </dev/null >/dev/null 2>&1 & echo $!");
  int vm_pid = std::stoi(vm.out);
  KillOnExit vm_guard{vm_pid};
  auto stopped_marker = dir.path() / "stopped";
  RecordingFencer fencer;
  Controller controller(ns.host_address(), dir.path() / "leases", fencer, "k",
                        {{"h0", 0}, {"h1", 1}, {"h2", 2}});
  std::string endpoint = ns.host_address() + ":" + std::to_string(controller.receiver.port());
  std::string loopback = "127.0.0.1:" + std::to_string(controller.receiver.port());
  // h0 lives in the namespace; h1 and h2 talk over the host side's address (outside the namespace).
  auto command = agent_command("h0", endpoint, key_file, dir.path() / "leases",
                               {"--isolation-response", "stop", "--isolation-grace", "0.5", "--stop-command",
                                "kill -9 " + std::to_string(vm_pid) + "; touch " + stopped_marker.string()});
  command.insert(command.begin(), {"ip", "netns", "exec", ns.name()});
  std::vector<BackgroundProcess> agents;
  agents.emplace_back(command, dir.path() / "h0.log");
  for (const char* host : {"h1", "h2"}) {
    agents.emplace_back(agent_command(host, endpoint, key_file, dir.path() / "leases"),
                        dir.path() / (std::string(host) + ".log"));
  }
  ASSERT_TRUE(controller.loop.run_until(
      [&] {
        auto renewal = controller.monitor.last_lease_renewal_s(0);
        return controller.monitor.health(0) == HostHealth::up && renewal && *renewal > 0.5 &&
               controller.receiver.counters().accepted > 10;
      },
      15.0))
      << controller.history(0) << testing::read_file(dir.path() / "h0.log");

  ns.set_link(false);  // h0's network is cut; its lease file keeps being renewed
  ASSERT_TRUE(
      controller.loop.run_until([&] { return controller.monitor.health(0) == HostHealth::isolated; }, 20.0))
      << controller.history(0);
  // It stays isolated (bounded: waits for a change that must not come).
  EXPECT_FALSE(
      controller.loop.run_until([&] { return controller.monitor.health(0) != HostHealth::isolated; }, 3.0))
      << controller.history(0);
  EXPECT_FALSE(controller.ever(0, HostHealth::failed)) << controller.history(0);
  EXPECT_TRUE(fencer.calls.empty());
  // The agent applied its isolation response: its VMs stopped after the grace period; it keeps running.
  EXPECT_TRUE(lab::eventually([&] { return std::filesystem::exists(stopped_marker); }, 5.0))
      << testing::read_file(dir.path() / "h0.log");
  EXPECT_TRUE(lab::eventually([&] { return !lab::process_alive(vm_pid); }, 2.0));
  EXPECT_TRUE(agents[0].running());

  ns.set_link(true);
  ASSERT_TRUE(controller.loop.run_until([&] { return controller.monitor.health(0) == HostHealth::up; }, 20.0))
      << controller.history(0);
  EXPECT_EQ(controller.monitor.health(1), HostHealth::up);
  EXPECT_EQ(controller.monitor.health(2), HostHealth::up);
  (void)loopback;
}

}  // namespace
}  // namespace revive
