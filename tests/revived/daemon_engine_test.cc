// The daemon's engine (daemon/daemon.h) against real processes, without its HTTP front: libvirt test-driver
// daemons as hosts, real revive-agents sending heartbeats and lease renewals, the SQLite journal. The
// end-to-end tests through revived's API and CLI live beside it; these pin the engine's wiring.
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "daemon/daemon.h"
#include "lab/libvirt_daemons.h"
#include "lab/real_processes.h"
#include "support/test_support.h"

namespace revive {
namespace {

using lab::BackgroundProcess;
using lab::TestDriverDaemon;
using testing::TempDir;

// Hosts host-0..host-N-1 (libvirt test driver) with their agents, and a daemon config for them.
struct LiveCloud {
  TempDir dir;
  std::vector<std::unique_ptr<TestDriverDaemon>> hosts;
  std::vector<std::unique_ptr<BackgroundProcess>> agents;
  daemon::DaemonConfig config;

  explicit LiveCloud(int count) {
    auto key_file = dir.write("heartbeat.key", "a-shared-heartbeat-key\n");
    std::filesystem::create_directories(dir.path() / "leases");
    config.data_dir = (dir.path() / "data").string();
    config.heartbeat.key_file = key_file.string();
    config.heartbeat.listen_address = "127.0.0.1";
    config.heartbeat.port = lab::free_udp_port();
    config.heartbeat.lease_dir = (dir.path() / "leases").string();
    config.heartbeat.lease_poll_s = 0.2;
    config.detector.network_phi.expected_interval_s = 0.2;
    config.detector.storage_phi.expected_interval_s = 0.2;
    config.detector.lease_ttl_s = 2.0;
    config.fencing.levels = {daemon::FenceLevel::manual};
    config.vm_restart.delay_s = 0.2;
    config.discovery_interval_s = 3600;
    config.libvirt.keepalive_interval_s = 1;
    config.libvirt.connect_timeout_s = 5;
    model::Endpoint endpoint;
    endpoint.name = "libvirt";
    endpoint.max_parallel = 8;
    config.inventory.endpoints.push_back(endpoint);
    for (int i = 0; i < count; ++i) {
      hosts.push_back(std::make_unique<TestDriverDaemon>(dir.path() / ("h" + std::to_string(i))));
      std::string error;
      if (!hosts.back()->start(10.0, &error)) ADD_FAILURE() << error;
      // test:///default runs a domain "test" on every host: gone, so each VM has one home.
      hosts.back()->destroy_domain("test");
      hosts.back()->undefine_domain("test");
      model::Host host;
      host.name = "host-" + std::to_string(i);
      host.cpus = 16;
      host.memory_mib = 65536;
      host.endpoint = 0;
      host.uri = hosts.back()->uri();
      config.inventory.hosts.push_back(host);
    }
    config.inventory.rebuild_indexes();
    for (int i = 0; i < count; ++i) start_agent(i);
  }

  void start_agent(int i) {
    std::string name = "host-" + std::to_string(i);
    agents.resize(hosts.size());
    agents[i] = std::make_unique<BackgroundProcess>(
        std::vector<std::string>{REVIVE_AGENT, "--host", name, "--controller",
                                 "127.0.0.1:" + std::to_string(config.heartbeat.port), "--key-file",
                                 config.heartbeat.key_file, "--interval", "0.2", "--lease-dir",
                                 config.heartbeat.lease_dir},
        dir.path() / (name + "-agent.log"));
  }

  // The host loses power: its libvirtd and its agent die at once.
  void crash(int i) {
    hosts[i]->kill();
    agents[i]->stop();  // SIGKILL
  }

  // Hosts on which `vm` runs, read from the libvirt daemons themselves.
  std::vector<int> running(const std::string& vm) {
    std::vector<int> found;
    for (int i = 0; i < static_cast<int>(hosts.size()); ++i) {
      if (hosts[i]->running() && hosts[i]->domain_state(vm) == "running") found.push_back(i);
    }
    return found;
  }
};

// Runs the daemon on a thread of its own; stops it at the end.
struct RunningDaemon {
  explicit RunningDaemon(const daemon::DaemonConfig& config) : daemon(config) {
    thread = std::thread([this] { status = daemon.run([this] { ready = true; }); });
    EXPECT_TRUE(lab::eventually([this] { return ready.load(); }, 30.0)) << "the daemon never became ready";
  }
  ~RunningDaemon() {
    daemon.stop();
    thread.join();
  }
  std::string host_state(const std::string& host) { return daemon.host(host)["state"].get<std::string>(); }
  std::string events_text() {
    std::string text;
    auto page = daemon.events(0, 100000, 0);
    for (const auto& event : page["events"]) text += event["message"].get<std::string>() + "\n";
    return text;
  }

  daemon::Daemon daemon;
  std::atomic<bool> ready{false};
  int status = -1;
  std::thread thread;
};

TEST(Revived, ACrashedHostIsFencedThenItsVmsRunOnceElsewhere) {
  LiveCloud cloud(3);
  ASSERT_TRUE(cloud.hosts[0]->define_domain(lab::test_domain_xml("web-1", 1, 512), true));
  ASSERT_TRUE(cloud.hosts[0]->define_domain(lab::test_domain_xml("db-1", 2, 1024), true));
  ASSERT_TRUE(cloud.hosts[1]->define_domain(lab::test_domain_xml("app-1", 1, 512), true));
  RunningDaemon running(cloud.config);
  auto vms = running.daemon.vms()["vms"];
  ASSERT_EQ(vms.size(), 3u) << vms.dump();
  ASSERT_TRUE(lab::eventually([&] { return running.host_state("host-0") == "up"; }, 10.0));

  cloud.crash(0);
  // Declared failed; the fence (manual level only here) waits for the operator's word.
  ASSERT_TRUE(lab::eventually(
      [&] {
        auto state = running.host_state("host-0");
        return state == "fencing" || state == "fenced";
      },
      20.0))
      << running.events_text();
  EXPECT_TRUE(cloud.running("web-1").empty());
  running.daemon.confirm_down("host-0", {"tester"});
  ASSERT_TRUE(lab::eventually(
      [&] { return cloud.running("web-1").size() == 1 && cloud.running("db-1").size() == 1; }, 30.0))
      << running.events_text();
  EXPECT_EQ(cloud.running("app-1"), std::vector<int>{1});
  auto operations = running.daemon.operations()["operations"];
  ASSERT_FALSE(operations.empty());
  ASSERT_TRUE(lab::eventually(
      [&] { return running.daemon.operations()["operations"][0]["state"] == "succeeded"; }, 10.0))
      << running.daemon.operations().dump(2) << running.events_text();
  auto detail = running.daemon.operation(operations[0]["id"].get<std::string>());
  EXPECT_EQ(detail["vms"].size(), 2u) << detail.dump(2);
}

// Every fence of a crashed host failed for good (its only level, ipmi, has no BMC to call; one attempt): its
// VM waits for a proof. An operator's confirm-down is that proof: the VM is recovered, with no further fence.
TEST(Revived, AConfirmationEndsTheWaitOfAHostWhoseEveryFenceFailed) {
  LiveCloud cloud(2);
  cloud.config.fencing.levels = {daemon::FenceLevel::ipmi};
  cloud.config.recovery.max_fence_attempts = 1;
  ASSERT_TRUE(cloud.hosts[0]->define_domain(lab::test_domain_xml("web-1", 1, 512), true));
  RunningDaemon running(cloud.config);
  ASSERT_TRUE(lab::eventually([&] { return running.host_state("host-0") == "up"; }, 10.0));

  cloud.crash(0);
  nlohmann::json vm;
  ASSERT_TRUE(lab::eventually(
      [&] {
        vm = running.daemon.vm("web-1");
        return vm["state"] == "waiting" && vm["reason"].is_string() &&
               vm["reason"].get<std::string>().find("could not be fenced") != std::string::npos;
      },
      30.0))
      << vm.dump(2) << running.events_text();
  EXPECT_TRUE(cloud.running("web-1").empty());
  running.daemon.confirm_down("host-0", {"tester"});
  ASSERT_TRUE(lab::eventually([&] { return cloud.running("web-1") == std::vector<int>{1}; }, 30.0))
      << running.daemon.vm("web-1").dump(2) << running.events_text();
}

// With policy.rto_s budgets the periodic capacity check also predicts recovery times per tier (as
// `revive check --rto`): a budget no restart can meet is reported with what binds, in GET /v1/capacity and as
// a recovery_time_shortfall event.
TEST(Revived, TheCapacityCheckPredictsRecoveryTimesAgainstTheBudgets) {
  LiveCloud cloud(2);
  cloud.config.inventory.policy.rto_s[static_cast<int>(model::Priority::medium)] = 5.0;  // below any start
  ASSERT_TRUE(cloud.hosts[0]->define_domain(lab::test_domain_xml("web-1", 1, 512), true));
  RunningDaemon running(cloud.config);
  ASSERT_TRUE(lab::eventually([&] { return running.daemon.vms()["vms"].size() == 1; }, 10.0));
  nlohmann::json capacity;
  ASSERT_TRUE(lab::eventually(
      [&] {
        capacity = running.daemon.capacity();
        return capacity.contains("recovery_time") && !capacity["recovery_time"]["breaking"].empty();
      },
      20.0))
      << capacity.dump(2);
  const auto& breaking = capacity["recovery_time"]["breaking"][0];
  EXPECT_EQ(breaking["failure"], "host-0") << breaking.dump(2);
  const auto& medium = breaking["tiers"]["medium"];
  EXPECT_EQ(medium["budget_s"], 5.0);
  EXPECT_TRUE(medium["breaks"].get<bool>());
  EXPECT_GT(medium["p90_s"].get<double>(), 5.0);
  EXPECT_FALSE(breaking["binding"].get<std::string>().empty());
  EXPECT_TRUE(lab::eventually(
      [&] { return running.events_text().find("would break a policy.rto_s budget") != std::string::npos; },
      10.0))
      << running.events_text();
}

TEST(Revived, AVmKilledOnAHealthyHostIsRestartedThere) {
  LiveCloud cloud(2);
  ASSERT_TRUE(cloud.hosts[0]->define_domain(lab::test_domain_xml("web-1", 1, 512), true));
  RunningDaemon running(cloud.config);
  ASSERT_TRUE(cloud.hosts[0]->destroy_domain("web-1"));  // behind libvirt's clients' back: a crash
  ASSERT_TRUE(lab::eventually([&] { return cloud.running("web-1") == std::vector<int>{0}; }, 20.0))
      << running.events_text();
  EXPECT_EQ(running.daemon.vm("web-1")["restarts"], 1) << running.events_text();
}

}  // namespace
}  // namespace revive
