// revived end to end (issue 10's "Done when"): the real daemon binary on a real small cloud (src/lab: libvirt
// test-driver hosts, QEMU session hosts with real TCG guests, ipmi_sim BMCs, revive-agents in network
// namespaces), driven and read through its REST API, the outcome checked independently through the lab.
// Every API answer the tests get is validated against docs/api/openapi.yaml at the end of each test.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>

#include "lab/lab.h"
#include "lab/libvirt_daemons.h"
#include "lab/real_processes.h"
#include "lab/tgt_daemon.h"
#include "revived/live_revived.h"
#include "support/test_support.h"

namespace revive {
namespace {

using nlohmann::json;
using testing::LiveRevived;

TEST(RevivedEndToEnd, ACrashedHostIsFencedThroughItsBmcAndItsVmsRunOnceWhereThePrestagedPlanSaid) {
  LiveRevived cloud(3);
  ASSERT_TRUE(lab::eventually([&] { return cloud.host_state("td0") == "up"; }, 20.0)) << cloud.events();
  // The prestaged plan for a failure of td0, as revived keeps it.
  std::map<std::string, std::string> prestaged;
  auto plans = cloud.get("/v1/plans");
  for (const auto& plan : plans["plans"]) {
    if (plan["name"] != "td0") continue;
    for (const auto& placement : plan["placements"]) prestaged[placement["vm"]] = placement["to"];
  }
  ASSERT_EQ(prestaged.size(), 3u);
  cloud.get("/v1/capacity");
  cloud.get("/v1/groups");

  cloud.lab().crash("td0");
  ASSERT_TRUE(lab::eventually([&] { return cloud.operation_finished("recovery"); }, 60.0)) << cloud.events();
  auto op = cloud.operation_of_kind("recovery");
  EXPECT_EQ(op["state"], "succeeded") << op.dump(2);
  EXPECT_EQ(op["progress"]["succeeded"], 3);
  cloud.get("/v1/operations/" + op["id"].get<std::string>());
  // Fenced through its BMC: the power is off.
  EXPECT_FALSE(cloud.lab().powered_on("td0"));
  // Every VM runs exactly once; td0's where the prestaged plan said (nothing changed since it was made).
  auto where = cloud.placement();
  for (const auto& host : cloud.lab().hosts()) {
    for (const auto& vm : host.vms) {
      ASSERT_EQ(where[vm].size(), 1u) << vm << " runs on " << where[vm].size() << " hosts\n"
                                      << cloud.events();
      if (host.name == "td0") {
        EXPECT_EQ(where[vm][0], prestaged[vm]) << vm;
      }
    }
  }
  // revived's view agrees with the lab's.
  auto vms = cloud.get("/v1/vms");
  for (const auto& vm : vms["vms"]) {
    EXPECT_EQ(vm["state"], "running") << vm.dump();
    EXPECT_EQ(vm["host"], where[vm["name"].get<std::string>()][0]) << vm.dump();
  }
  EXPECT_EQ(cloud.host_state("td0"), "recovered");
  cloud.get("/v1/status");
  cloud.validate();
}

// The same with real QEMU: the crashed session host's guest boots again on the other one.
TEST(RevivedEndToEnd, ACrashedQemuHostsGuestBootsAgainOnTheOtherQemuHost) {
  LiveRevived cloud(0, 2);
  ASSERT_TRUE(lab::eventually([&] { return cloud.host_state("qemu0") == "up"; }, 20.0)) << cloud.events();
  cloud.lab().crash("qemu0");
  ASSERT_TRUE(lab::eventually([&] { return cloud.operation_finished("recovery"); }, 60.0)) << cloud.events();
  EXPECT_EQ(cloud.operation_of_kind("recovery")["state"], "succeeded") << cloud.events();
  EXPECT_FALSE(cloud.lab().powered_on("qemu0"));
  auto where = cloud.placement();
  EXPECT_EQ(where["qemu0-g0"], std::vector<std::string>{"qemu1"}) << cloud.events();
  EXPECT_EQ(where["qemu1-g0"], std::vector<std::string>{"qemu1"});
  cloud.validate();
}

TEST(RevivedEndToEnd, AVmKilledOnAHealthyHostIsRestartedThere) {
  LiveRevived cloud(2);
  ASSERT_TRUE(cloud.lab().kill_vm("td1-vm1"));
  ASSERT_TRUE(
      lab::eventually([&] { return cloud.placement()["td1-vm1"] == std::vector<std::string>{"td1"}; }, 30.0))
      << cloud.events();
  ASSERT_TRUE(lab::eventually([&] { return cloud.operation_finished("vm_restart"); }, 10.0))
      << cloud.events();
  EXPECT_EQ(cloud.operation_of_kind("vm_restart")["state"], "succeeded");
  EXPECT_EQ(cloud.get("/v1/vms/td1-vm1")["restarts"], 1);
  cloud.validate();
}

// A VM that keeps failing on its host: restarted there up to vm_restart.max_restarts within the window, then
// placed on another host.
TEST(RevivedEndToEnd, AVmThatKeepsFailingOnItsHostIsPlacedElsewhere) {
  LiveRevived cloud(2, 0, "vm_restart:\n  max_restarts: 1\n  window_s: 600\n  delay_s: 0.2\n");
  ASSERT_TRUE(cloud.lab().kill_vm("td1-vm2"));
  ASSERT_TRUE(
      lab::eventually([&] { return cloud.placement()["td1-vm2"] == std::vector<std::string>{"td1"}; }, 30.0))
      << cloud.events();
  ASSERT_TRUE(lab::eventually([&] { return cloud.operation_finished("vm_restart"); }, 10.0))
      << cloud.events();
  ASSERT_TRUE(cloud.lab().kill_vm("td1-vm2"));
  ASSERT_TRUE(
      lab::eventually([&] { return cloud.placement()["td1-vm2"] == std::vector<std::string>{"td0"}; }, 30.0))
      << cloud.events();
  ASSERT_TRUE(lab::eventually([&] { return cloud.get("/v1/vms/td1-vm2")["host"] == "td0"; }, 10.0))
      << cloud.events();
  EXPECT_EQ(cloud.get("/v1/vms/td1-vm2")["restarts"], 2);
  cloud.validate();
}

TEST(RevivedEndToEnd, MaintenanceLiveMigratesRealQemuGuestsAndExitBringsTheHostBack) {
  LiveRevived cloud(1, 2);
  auto entered = cloud.post("/v1/hosts/qemu0/maintenance", {{"action", "enter"}, {"deadline_s", 120}});
  ASSERT_EQ(entered.status, 202) << entered.body.dump();
  ASSERT_TRUE(lab::eventually([&] { return cloud.operation_finished("evacuation"); }, 90.0))
      << cloud.events();
  auto op = cloud.operation_of_kind("evacuation");
  EXPECT_EQ(op["state"], "succeeded") << op.dump(2);
  for (const auto& vm : op["vms"]) EXPECT_EQ(vm["method"], "live_migration") << vm.dump();
  auto where = cloud.placement();
  EXPECT_EQ(where["qemu0-g0"], std::vector<std::string>{"qemu1"});
  EXPECT_EQ(where["qemu1-g0"], std::vector<std::string>{"qemu1"});
  EXPECT_EQ(cloud.host_state("qemu0"), "maintenance");
  // Maintenance refuses a second drain of the same host; nothing changes.
  EXPECT_EQ(cloud.post("/v1/hosts/qemu0/evacuate", {{"deadline_s", 60}}).status, 409);

  auto exited = cloud.post("/v1/hosts/qemu0/maintenance", {{"action", "exit"}});
  ASSERT_EQ(exited.status, 202) << exited.body.dump();
  ASSERT_TRUE(lab::eventually([&] { return cloud.host_state("qemu0") == "up"; }, 20.0)) << cloud.events();
  // Back in planning: a failure of qemu1 would now restart its guests on qemu0.
  ASSERT_TRUE(lab::eventually(
      [&] {
        auto current = cloud.get("/v1/plans");
        for (const auto& plan : current["plans"]) {
          if (plan["name"] != "qemu1") continue;
          for (const auto& placement : plan["placements"])
            if (placement["to"] == "qemu0") return true;
        }
        return false;
      },
      20.0));
  cloud.validate();
}

TEST(RevivedEndToEnd, AnIsolatedHostIsNeitherFencedNorRecovered) {
  LiveRevived cloud(3);
  ASSERT_TRUE(lab::eventually([&] { return cloud.host_state("td2") == "up"; }, 20.0)) << cloud.events();
  cloud.lab().isolate("td2");
  ASSERT_TRUE(lab::eventually([&] { return cloud.host_state("td2") == "isolated"; }, 30.0))
      << cloud.host_state("td2") << "\n"
      << cloud.events();
  // Well past the time a crash takes to be fenced and recovered: still isolated, powered, its VMs only there.
  std::this_thread::sleep_for(std::chrono::seconds(8));
  EXPECT_EQ(cloud.host_state("td2"), "isolated") << cloud.events();
  EXPECT_TRUE(cloud.lab().powered_on("td2"));
  EXPECT_TRUE(cloud.operation_of_kind("recovery").is_null()) << cloud.events();
  auto where = cloud.placement();
  for (const auto& vm : {"td2-vm0", "td2-vm1", "td2-vm2"})
    EXPECT_EQ(where[vm], std::vector<std::string>{"td2"});
  // An operator cannot confirm an isolated host down either (its lease renews: it runs).
  EXPECT_EQ(cloud.post("/v1/hosts/td2/confirm-down", json::object()).status, 409);
  cloud.lab().heal("td2");
  ASSERT_TRUE(lab::eventually([&] { return cloud.host_state("td2") == "up"; }, 30.0)) << cloud.events();
  cloud.validate();
}

TEST(RevivedEndToEnd, BadRequestsAreRefusedWithTheirFieldAndChangeNothing) {
  LiveRevived cloud(2);
  // The hosts' states and VMs (the channels' phi moves with time).
  auto states = [&] {
    std::vector<std::string> seen;
    auto hosts = cloud.get("/v1/hosts");
    for (const auto& host : hosts["hosts"])
      seen.push_back(host["name"].dump() + host["state"].dump() + host["vms"].dump());
    return seen;
  };
  auto before = states();
  struct Case {
    std::string path;
    json body;
    int status;
    std::string field;
  };
  std::vector<Case> cases{
      {"/v1/hosts/nowhere/evacuate", json::object(), 404, "host"},
      {"/v1/hosts/td0/evacuate", {{"deadline_s", -5}}, 400, "deadline_s"},
      {"/v1/hosts/td0/evacuate", {{"deadline_s", "soon"}}, 400, "deadline_s"},
      {"/v1/hosts/td0/evacuate", {{"deadlin_s", 60}}, 400, "deadlin_s"},
      {"/v1/hosts/td0/maintenance", {{"action", "leave"}}, 400, "action"},
      {"/v1/hosts/td0/maintenance", {{"action", "exit"}}, 409, "host"},
      {"/v1/hosts/td0/confirm-down", json::object(), 409, "host"},
      {"/v1/operations/recovery-1/cancel", json::object(), 404, "id"},
      {"/v1/evacuations", {{"hosts", json::array()}}, 400, "hosts"},
  };
  for (const auto& item : cases) {
    auto answer = cloud.post(item.path, item.body);
    EXPECT_EQ(answer.status, item.status)
        << item.path << " " << item.body.dump() << " -> " << answer.body.dump();
    EXPECT_EQ(answer.body["error"]["field"], item.field) << item.path << " " << answer.body.dump();
  }
  EXPECT_EQ(states(), before);
  EXPECT_TRUE(cloud.get("/v1/operations")["operations"].empty());
  cloud.validate();
}

TEST(RevivedEndToEnd, AVmThatAppearsIsProtectedAndPlannedForAndTheCliShowsIt) {
  LiveRevived cloud(2, 0, "discovery:\n  interval_s: 1\n");
  std::string uri = cloud.lab().hosts()[0].uri;
  auto xml = cloud.dir() / "new-vm.xml";
  std::ofstream(xml) << lab::test_domain_xml("late-vm", 1, 256);
  ASSERT_EQ(std::system(("virsh -q -c '" + uri + "' define " + xml.string() + " >/dev/null && virsh -q -c '" +
                         uri + "' start late-vm >/dev/null")
                            .c_str()),
            0);
  ASSERT_TRUE(lab::eventually([&] { return cloud.raw_get("/v1/vms/late-vm").status == 200; }, 20.0))
      << cloud.events();
  auto vm = cloud.get("/v1/vms/late-vm");
  EXPECT_EQ(vm["host"], "td0");
  EXPECT_EQ(vm["protect"], true);
  // The prestaged plan for td0 now moves it too.
  ASSERT_TRUE(lab::eventually(
      [&] {
        auto plans = cloud.get("/v1/plans");
        for (const auto& plan : plans["plans"]) {
          if (plan["name"] != "td0") continue;
          for (const auto& placement : plan["placements"])
            if (placement["vm"] == "late-vm") return true;
        }
        return false;
      },
      20.0));
  // The CLI against the daemon: a table for people, the API's JSON for scripts.
  std::string server = "http://127.0.0.1:" + std::to_string(cloud.lab().api_port());
  auto table = testing::run_cli({"--server", server, "vms"}, 30);
  EXPECT_EQ(table.exit_status, 0) << table.err;
  EXPECT_NE(table.out.find("late-vm"), std::string::npos) << table.out;
  auto listed = testing::run_cli({"--server", server, "hosts", "--format", "json"}, 30);
  EXPECT_EQ(listed.exit_status, 0) << listed.err;
  EXPECT_EQ(json::parse(listed.out)["hosts"].size(), 2u) << listed.out;
  auto refused = testing::run_cli({"--server", server, "evacuate", "nowhere", "--deadline", "60"}, 30);
  EXPECT_EQ(refused.exit_status, 2) << refused.out << refused.err;
  cloud.validate();
}

// revived with a bad config exits 2 naming the file, line and field, and starts nothing.
TEST(RevivedEndToEnd, ABadConfigIsRefusedBeforeAnythingStarts) {
  testing::TempDir dir;
  auto key = dir.write("heartbeat.key", "key\n");
  dir.write("inventory.yaml",
            "version: 1\nendpoints: [{name: e, max_parallel: 4}]\n"
            "hosts:\n  - {name: h0, cpus: 4, memory_mib: 4096, endpoint: e, uri: 'test:///default'}\n");
  auto config = dir.write("revived.yaml",
                          "listen: 127.0.0.1:1\ndata_dir: " + (dir.path() / "data").string() +
                              "\ninventory: inventory.yaml\nheartbeat:\n  key_file: " + key.string() +
                              "\ndetector:\n  fail_phi: 2\n  suspect_phi: 5\nfencing:\n  levels: [manual]\n");
  lab::BackgroundProcess revived({REVIVED, "--config", config.string()}, dir.path() / "revived.log");
  ASSERT_TRUE(lab::eventually([&] { return !revived.running(); }, 10.0));
  EXPECT_EQ(revived.exit_code(), 2);
  auto log = testing::read_file(dir.path() / "revived.log");
  EXPECT_NE(log.find("revived.yaml:"), std::string::npos) << log;
  EXPECT_NE(log.find("detector.fail_phi"), std::string::npos) << log;
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "data" / "journal.db"));
}

// revived killed -9 in the middle of a drain (before a live migration, after one) and started again: the
// drain goes on by its deadline, every guest runs exactly once, the evacuation succeeds.
class CrashDuringDrain : public ::testing::TestWithParam<std::string> {};

TEST_P(CrashDuringDrain, TheDrainGoesOnAfterTheRestart) {
  LiveRevived cloud(0, 2);
  cloud.stop_revived();
  cloud.start_revived({"REVIVE_TEST_CRASH_AT=" + GetParam()});
  auto entered = cloud.post("/v1/hosts/qemu0/maintenance", {{"action", "enter"}, {"deadline_s", 120}});
  // At evacuation_plan the daemon dies inside the request (no answer: status 0); the operation was journaled.
  ASSERT_TRUE(entered.status == 202 || entered.status == 0) << entered.body.dump();
  ASSERT_TRUE(cloud.revived_died(60.0)) << "the crash hook never fired\n" << cloud.log();
  cloud.start_revived();
  ASSERT_TRUE(lab::eventually([&] { return cloud.operation_finished("evacuation"); }, 90.0))
      << cloud.events();
  auto op = cloud.operation_of_kind("evacuation");
  EXPECT_EQ(op["state"], "succeeded") << op.dump(2) << cloud.events();
  auto where = cloud.placement();
  EXPECT_EQ(where["qemu0-g0"], std::vector<std::string>{"qemu1"}) << cloud.events();
  EXPECT_EQ(where["qemu1-g0"], std::vector<std::string>{"qemu1"});
  EXPECT_EQ(cloud.host_state("qemu0"), "maintenance");
  cloud.validate();
}

INSTANTIATE_TEST_SUITE_P(MigrationPoints, CrashDuringDrain,
                         ::testing::Values("evacuation_plan", "migrate_started", "migrate_done"),
                         [](const ::testing::TestParamInfo<std::string>& point) { return point.param; });

// revived with tokens and TLS: only a valid token with a strong enough role gets in, over HTTPS trusted by
// the CA; refused calls change nothing; no token appears in any output or in revived's log.
TEST(RevivedEndToEnd, TokensAndTlsGuardTheApi) {
  testing::TempDir secrets;
  auto certificates = testing::make_test_certificates(secrets.path());

  std::string viewer_line;
  std::string operator_line;
  auto viewer = testing::make_api_token("vera", "viewer", viewer_line);
  auto operator_token = testing::make_api_token("otto", "operator", operator_line);
  auto tokens_file = secrets.write("api-tokens", viewer_line + "\n" + operator_line + "\n");
  auto viewer_file = secrets.write("viewer.token", viewer + "\n");
  auto operator_file = secrets.write("operator.token", operator_token + "\n");
  std::string extra = "api:\n  tokens_file: " + tokens_file.string() +
                      "\n  tls:\n    certificate_file: " + certificates.certificate.string() +
                      "\n    key_file: " + certificates.key.string() + "\n";
  lab::LabSpec spec;
  spec.root = secrets.path() / "lab";
  spec.test_driver_hosts = 2;
  spec.agent_binary = REVIVE_AGENT;
  lab::Lab cloud(spec);
  cloud.start();
  std::ofstream(cloud.files().config, std::ios::app) << extra;
  lab::BackgroundProcess revived({REVIVED, "--config", cloud.files().config.string()},
                                 secrets.path() / "revived.log");
  std::string server = "https://127.0.0.1:" + std::to_string(cloud.api_port());
  auto cli = [&](std::vector<std::string> arguments, const std::filesystem::path& token_file,
                 bool with_ca = true) {
    std::vector<std::string> all{"--server", server};
    if (!token_file.empty()) all.insert(all.end(), {"--token-file", token_file.string()});
    if (with_ca) all.insert(all.end(), {"--ca-file", certificates.ca.string()});
    all.insert(all.end(), arguments.begin(), arguments.end());
    return testing::run_cli(all, 30);
  };
  ASSERT_TRUE(lab::eventually([&] { return cli({"hosts"}, viewer_file).exit_status == 0; }, 60.0))
      << testing::read_file(secrets.path() / "revived.log");
  auto no_token = cli({"hosts"}, {});
  EXPECT_EQ(no_token.exit_status, 2) << no_token.out << no_token.err;
  EXPECT_NE(no_token.err.find("401"), std::string::npos) << no_token.err;
  auto untrusted = cli({"hosts"}, viewer_file, /*with_ca=*/false);
  EXPECT_EQ(untrusted.exit_status, 3) << untrusted.err;
  auto too_weak = cli({"maintenance", "enter", "td1", "--deadline", "60"}, viewer_file);
  EXPECT_EQ(too_weak.exit_status, 2) << too_weak.err;
  EXPECT_NE(too_weak.err.find("403"), std::string::npos) << too_weak.err;
  auto hosts = cli({"hosts", "--format", "json"}, viewer_file);
  ASSERT_EQ(hosts.exit_status, 0) << hosts.err;
  auto listed = json::parse(hosts.out);  // kept alive for the loop
  for (const auto& host : listed["hosts"]) EXPECT_EQ(host["state"], "up") << host.dump();
  auto allowed = cli({"maintenance", "enter", "td1", "--deadline", "60", "--format", "json"}, operator_file);
  EXPECT_EQ(allowed.exit_status, 0) << allowed.out << allowed.err;
  EXPECT_EQ(json::parse(allowed.out)["operation"]["requested_by"], "otto") << allowed.out;
  revived.signal(SIGTERM);
  lab::eventually([&] { return !revived.running(); }, 10.0);
  auto log = testing::read_file(secrets.path() / "revived.log");
  for (const auto& output :
       {no_token.out + no_token.err, too_weak.out + too_weak.err, hosts.out, allowed.out, log}) {
    EXPECT_EQ(output.find(viewer), std::string::npos);
    EXPECT_EQ(output.find(operator_token), std::string::npos);
  }
}

// A bad policy (the inventory file revived reads) is refused the same way: file, line and field, exit 2.
TEST(RevivedEndToEnd, ABadPolicyIsRefusedBeforeAnythingStarts) {
  testing::TempDir dir;
  auto key = dir.write("heartbeat.key", "key\n");
  dir.write("inventory.yaml",
            "version: 1\nendpoints: [{name: e, max_parallel: 4}]\n"
            "hosts:\n  - {name: h0, cpus: 4, memory_mib: 4096, endpoint: e, uri: 'test:///default'}\n"
            "vms:\n  - {name: web, priority: urgent}\n");
  auto config =
      dir.write("revived.yaml", "data_dir: " + (dir.path() / "data").string() +
                                    "\ninventory: inventory.yaml\nheartbeat:\n  key_file: " + key.string() +
                                    "\nfencing:\n  levels: [manual]\n");
  lab::BackgroundProcess revived({REVIVED, "--config", config.string()}, dir.path() / "revived.log");
  ASSERT_TRUE(lab::eventually([&] { return !revived.running(); }, 10.0));
  EXPECT_EQ(revived.exit_code(), 2);
  auto log = testing::read_file(dir.path() / "revived.log");
  EXPECT_NE(log.find("inventory.yaml:6"), std::string::npos) << log;
  EXPECT_NE(log.find("priority"), std::string::npos) << log;
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "data" / "journal.db"));
}

// Guests on iSCSI disks (a real tgtd, QEMU's initiator with its host's initiator name): storage fencing
// revokes the crashed host's access, the recovery maps the disk to the other host's initiator only, and the
// guest boots there on its disk.
TEST(RevivedEndToEnd, StorageFencingDeniesTheCrashedHostAndTheGuestRunsOnItsRemappedDisk) {
  LiveRevived cloud(0, 2, "", "", [](lab::LabSpec& spec) {
    spec.iscsi_disks = true;
    spec.fence_levels = {"storage", "manual"};
  });
  auto& lab = cloud.lab();
  ASSERT_NE(lab.array(), nullptr);
  const std::string crashed = lab.hosts()[0].initiator, survivor = lab.hosts()[1].initiator;
  const std::string moved = lab.disk_target("qemu0-g0"), stayed = lab.disk_target("qemu1-g0");
  ASSERT_TRUE(lab::eventually([&] { return cloud.host_state("qemu0") == "up"; }, 20.0)) << cloud.events();
  EXPECT_EQ(lab.array()->discovered_by(crashed), std::vector<std::string>{moved});
  EXPECT_EQ(lab.array()->discovered_by(survivor), std::vector<std::string>{stayed});

  lab.crash("qemu0");
  ASSERT_TRUE(lab::eventually([&] { return cloud.operation_finished("recovery"); }, 60.0)) << cloud.events();
  EXPECT_EQ(cloud.operation_of_kind("recovery")["state"], "succeeded") << cloud.events();
  // Fenced by storage alone: the power was never touched, yet qemu0 can open none of its disks.
  EXPECT_TRUE(lab.powered_on("qemu0"));
  EXPECT_TRUE(lab.array()->discovered_by(crashed).empty());
  EXPECT_FALSE(lab.array()->initiator_can_open(crashed, moved));
  EXPECT_EQ(lab.array()->discovered_by(survivor), (std::vector<std::string>{moved, stayed}));
  EXPECT_TRUE(lab.array()->initiator_can_open(survivor, moved));
  // The guest runs on qemu1, logged in to its disk as qemu1.
  EXPECT_EQ(cloud.placement()["qemu0-g0"], std::vector<std::string>{"qemu1"}) << cloud.events();
  drivers::TgtAnswer listed;
  auto targets = lab.array()->admin().targets(listed);
  ASSERT_TRUE(targets) << listed.error;
  for (const auto& target : *targets) {
    if (target.name == moved) {
      EXPECT_EQ(target.sessions, std::vector<std::string>{survivor});
    }
  }
  EXPECT_EQ(cloud.host_state("qemu0"), "recovered");
  cloud.validate();
}

// A dead array: the crashed host's guest's disk cannot be unmapped, so the guest is never started elsewhere
// and the step's error says why. (Disk steps begin at the declaration, before the power fence: with one
// attempt and no replan the VM fails at its unmap, and a fence that no start needs any more may not be made.)
TEST(RevivedEndToEnd, ADeadArrayIsAClearErrorAndTheGuestIsNotStartedWithoutItsDisk) {
  LiveRevived cloud(0, 2, "recovery: {max_attempts: 1, max_replans: 0}\n", "",
                    [](lab::LabSpec& spec) { spec.iscsi_disks = true; });
  auto& lab = cloud.lab();
  ASSERT_TRUE(lab::eventually([&] { return cloud.host_state("qemu0") == "up"; }, 20.0)) << cloud.events();
  lab.array()->kill();
  lab.crash("qemu0");
  ASSERT_TRUE(lab::eventually([&] { return cloud.operation_finished("recovery"); }, 60.0)) << cloud.events();
  auto op = cloud.operation_of_kind("recovery");
  EXPECT_NE(op["state"], "succeeded") << op.dump(2);
  auto details = cloud.get("/v1/operations/" + op["id"].get<std::string>());
  std::string errors;
  for (const auto& vm : details["vms"]) {
    for (const auto& step : vm["steps"]) {
      if (step["error"].is_string())
        errors += step["step"].get<std::string>() + ": " + step["error"].get<std::string>() + "\n";
    }
  }
  EXPECT_NE(errors.find("disk_unmap: array lab-array: disk qemu0-g0-root"), std::string::npos)
      << details.dump(2);
  EXPECT_EQ(details["vms"][0]["state"], "failed");
  EXPECT_NE(errors.find("does not answer (dead?)"), std::string::npos) << errors;
  EXPECT_TRUE(cloud.placement()["qemu0-g0"].empty()) << cloud.events();
  cloud.validate();
}

}  // namespace
}  // namespace revive
