// LUN masking on a real tgtd (Debian's userspace iSCSI target) that each test starts on loopback with its own
// control socket, port and backing files (lab::TgtDaemon); access is checked from the initiators' side with
// libiscsi's iscsi-ls / iscsi-inq, and an open session is held by a real QEMU iSCSI initiator.
#include <fstream>
#include <optional>
#include <sstream>

#include <gtest/gtest.h>

#include "drivers/realtime/wall_clock_loop.h"
#include "drivers/tgt/tgt_admin.h"
#include "drivers/tgt/tgt_storage.h"
#include "lab/real_processes.h"
#include "lab/tgt_daemon.h"
#include "support/test_support.h"

namespace revive {
namespace {

using drivers::TgtAdmin;
using drivers::TgtAnswer;
using drivers::TgtOptions;
using drivers::TgtStorage;
using drivers::WallClockLoop;
using testing::TempDir;

constexpr const char* kPrefix = "iqn.2026-12.test.revive";
constexpr const char* kHostA = "iqn.2026-12.test.revive:host-a";
constexpr const char* kHostB = "iqn.2026-12.test.revive:host-b";

#define REQUIRE_TGT()                                                                                \
  do {                                                                                               \
    for (const char* tool : {"tgtd", "tgtadm", "iscsi-ls", "iscsi-inq"}) {                           \
      if (!lab::have_tool(tool)) GTEST_SKIP() << tool << " not installed (scripts/install-deps.sh)"; \
    }                                                                                                \
  } while (false)

// ----------------------------------------------------------------------------------- parsing (no tgtd)

constexpr const char* kShowTarget = R"(Target 1: iqn.2026-12.test.revive:vm-1-root
    System information:
        Driver: iscsi
        State: ready
    I_T nexus information:
        I_T nexus: 3
            Initiator: iqn.2026-12.test.revive:host-a alias: none
            Connection: 0
                IP Address: 127.0.0.1
    LUN information:
        LUN: 0
            Type: controller
            Backing store path: None
        LUN: 1
            Type: disk
            Backing store path: /tmp/x/vm-1-root.img
    Account information:
    ACL information:
        iqn.2026-12.test.revive:host-a
        ALL
Target 2: iqn.2026-12.test.revive:vm-2-root
    System information:
        Driver: iscsi
    I_T nexus information:
    LUN information:
    Account information:
    ACL information:
)";

TEST(TgtParsing, TargetsWithTheirAclSessionsAndBackingFiles) {
  auto targets = drivers::parse_tgt_targets(kShowTarget);
  ASSERT_EQ(targets.size(), 2u);
  EXPECT_EQ(targets[0].tid, 1);
  EXPECT_EQ(targets[0].name, "iqn.2026-12.test.revive:vm-1-root");
  EXPECT_EQ(targets[0].acl, (std::vector<std::string>{kHostA, "ALL"}));
  EXPECT_EQ(targets[0].sessions, std::vector<std::string>{kHostA});
  EXPECT_EQ(targets[0].backing, std::vector<std::string>{"/tmp/x/vm-1-root.img"});
  EXPECT_EQ(targets[1].tid, 2);
  EXPECT_TRUE(targets[1].acl.empty());
  EXPECT_TRUE(targets[1].sessions.empty());
}

TEST(TgtParsing, Connections) {
  auto connections = drivers::parse_tgt_connections(
      "Session: 4\n    Connection: 0\n        Initiator: iqn.2026-12.test.revive:host-b\n        IP Address: "
      "127.0.0.1\nSession: 7\n    Connection: 1\n        Initiator: iqn.2026-12.test.revive:host-a\n");
  ASSERT_EQ(connections.size(), 2u);
  EXPECT_EQ(connections[0].sid, 4);
  EXPECT_EQ(connections[0].cid, 0);
  EXPECT_EQ(connections[0].initiator, kHostB);
  EXPECT_EQ(connections[1].sid, 7);
  EXPECT_EQ(connections[1].cid, 1);
}

TEST(TgtParsing, IscsiNamesAndControlSockets) {
  EXPECT_TRUE(model::is_iscsi_name("iqn.2026-12.lab.revive:qemu0"));
  EXPECT_TRUE(model::is_iscsi_name("iqn.1994-05.com.redhat:7f3a"));
  EXPECT_TRUE(model::is_iscsi_name("eui.02004567a425678d"));
  EXPECT_TRUE(model::is_iscsi_name("naa.52004567ba64678d"));
  EXPECT_FALSE(model::is_iscsi_name("ALL"));
  EXPECT_FALSE(model::is_iscsi_name("127.0.0.1"));
  EXPECT_FALSE(model::is_iscsi_name("iqn.2026-13.lab.revive:x"));
  EXPECT_FALSE(model::is_iscsi_name("iqn.2026-12.Lab.revive:x"));
  EXPECT_FALSE(model::is_iscsi_name("iqn.2026-12.lab revive"));
  EXPECT_FALSE(model::is_iscsi_name("eui.02004567"));
  EXPECT_TRUE(TgtAdmin::valid_control_socket("/var/run/tgtd/socket.0"));
  EXPECT_FALSE(TgtAdmin::valid_control_socket("/var/run/tgtd/socket"));
  EXPECT_FALSE(TgtAdmin::valid_control_socket("socket.0"));
  EXPECT_FALSE(TgtAdmin::valid_control_socket("/var/run/tgtd/socket.x"));
}

// ------------------------------------------------------------------------------------- a real tgtd

// Two hosts (a, b) with initiator names, one array on a tgtd, `disks` disks of one VM on it.
struct Array {
  TempDir dir;
  lab::TgtDaemon tgtd{dir.path() / "tgtd", kPrefix};
  model::Cloud cloud;
  std::vector<std::string> targets;

  explicit Array(int disks, std::uint32_t max_parallel = 4, bool create_targets = true) {
    std::string error;
    if (!tgtd.start(10.0, &error)) throw std::runtime_error(error);
    cloud.arrays.push_back({"array-a", max_parallel});
    for (const char* name : {"host-a", "host-b"}) {
      model::Host host;
      host.name = name;
      host.cpus = 4;
      host.memory_mib = 4096;
      host.arrays = {0};
      host.initiator = std::string(kPrefix) + ":" + name;
      cloud.hosts.push_back(host);
    }
    model::Vm vm;
    vm.name = "vm-1";
    vm.host = 0;
    vm.disk_count = static_cast<std::uint32_t>(disks);
    cloud.vms.push_back(vm);
    for (int d = 0; d < disks; ++d) {
      model::Disk disk{"vm-1-disk" + std::to_string(d), 0, 1, 0};
      cloud.disks.push_back(disk);
      if (create_targets) targets.push_back(tgtd.add_disk(disk.name));
    }
    cloud.rebuild_indexes();
  }
  std::vector<std::optional<drivers::TgtArrayConfig>> config() const {
    return {drivers::TgtArrayConfig{tgtd.control_socket(), kPrefix}};
  }
};

std::vector<model::DiskIndex> all_disks(const model::Cloud& cloud) {
  std::vector<model::DiskIndex> disks;
  for (model::DiskIndex d = 0; d < cloud.disks.size(); ++d) disks.push_back(d);
  return disks;
}

// Runs one map or unmap batch on the loop; returns each disk's result in disk order.
std::vector<env::OperationResult> run_batch(WallClockLoop& loop, TgtStorage& storage, bool map,
                                            model::HostIndex host, std::vector<model::DiskIndex> disks,
                                            double timeout_s = 30.0) {
  std::vector<std::optional<env::OperationResult>> results(disks.empty() ? 0 : disks.back() + 1);
  std::size_t answered = 0;
  auto done = [&](model::DiskIndex disk, const env::OperationResult& result) {
    EXPECT_FALSE(results.at(disk).has_value()) << "disk " << disk << " answered twice";
    results.at(disk) = result;
    ++answered;
  };
  std::size_t asked = disks.size();
  if (map) {
    storage.map_disks(0, host, std::move(disks), done);
  } else {
    storage.unmap_disks(0, host, std::move(disks), done);
  }
  EXPECT_TRUE(loop.run_until([&] { return answered == asked; }, timeout_s)) << "no answer";
  std::vector<env::OperationResult> out;
  for (auto& result : results) out.push_back(result.value_or(env::OperationResult::failure("no answer")));
  return out;
}

void expect_all_ok(const std::vector<env::OperationResult>& results) {
  for (const auto& result : results) EXPECT_TRUE(result.ok) << result.error;
}

TEST(TgtStorage, MapGrantsAndUnmapRevokesAccessSeenFromBothInitiators) {
  REQUIRE_TGT();
  Array array(2);
  WallClockLoop loop;
  TgtStorage storage(loop, array.cloud, array.config());
  // Nobody is admitted before a map.
  EXPECT_TRUE(array.tgtd.discovered_by(kHostA).empty());
  EXPECT_FALSE(array.tgtd.initiator_can_open(kHostA, array.targets[0]));

  expect_all_ok(run_batch(loop, storage, true, 0, all_disks(array.cloud)));
  EXPECT_EQ(array.tgtd.discovered_by(kHostA), array.targets);
  EXPECT_TRUE(array.tgtd.discovered_by(kHostB).empty());
  EXPECT_TRUE(array.tgtd.initiator_can_open(kHostA, array.targets[1]));
  EXPECT_FALSE(array.tgtd.initiator_can_open(kHostB, array.targets[1]));

  // The remap of a recovery: off host a, onto host b.
  expect_all_ok(run_batch(loop, storage, false, 0, all_disks(array.cloud)));
  expect_all_ok(run_batch(loop, storage, true, 1, all_disks(array.cloud)));
  EXPECT_TRUE(array.tgtd.discovered_by(kHostA).empty());
  EXPECT_EQ(array.tgtd.discovered_by(kHostB), array.targets);
  EXPECT_FALSE(array.tgtd.initiator_can_open(kHostA, array.targets[0]));
  EXPECT_TRUE(array.tgtd.initiator_can_open(kHostB, array.targets[0]));
}

TEST(TgtStorage, EveryOperationIsIdempotent) {
  REQUIRE_TGT();
  Array array(1);
  WallClockLoop loop;
  TgtStorage storage(loop, array.cloud, array.config());
  expect_all_ok(run_batch(loop, storage, false, 0, {0}));  // never mapped
  expect_all_ok(run_batch(loop, storage, true, 0, {0}));
  expect_all_ok(run_batch(loop, storage, true, 0, {0}));  // the rule exists already
  TgtAnswer listed;
  auto targets = array.tgtd.admin().targets(listed);
  ASSERT_TRUE(targets);
  EXPECT_EQ(targets->at(0).acl, std::vector<std::string>{kHostA});
  expect_all_ok(run_batch(loop, storage, false, 0, {0}));
  expect_all_ok(run_batch(loop, storage, false, 0, {0}));  // the rule does not exist any more
  EXPECT_FALSE(array.tgtd.initiator_can_open(kHostA, array.targets[0]));
}

TEST(TgtStorage, UnmapEndsTheOpenSessionOfAQemuInitiator) {
  REQUIRE_TGT();
  if (!lab::have_tool("qemu-system-x86_64")) GTEST_SKIP() << "qemu-system-x86_64 not installed";
  Array array(1);
  WallClockLoop loop;
  TgtStorage storage(loop, array.cloud, array.config());
  expect_all_ok(run_batch(loop, storage, true, 0, {0}));
  // A QEMU with the disk open through its iSCSI initiator as host a (no machine: only the block layer).
  lab::BackgroundProcess qemu(
      {"qemu-system-x86_64", "-nodefaults", "-display", "none", "-machine", "none", "-drive",
       "file=" + array.tgtd.lun_url(array.targets[0]) + ",format=raw,if=none,id=d0", "-iscsi",
       std::string("initiator-name=") + kHostA},
      array.dir.path() / "qemu.log");
  auto sessions = [&] {
    TgtAnswer answer;
    auto targets = array.tgtd.admin().targets(answer);
    return targets && !targets->empty() ? targets->at(0).sessions : std::vector<std::string>{};
  };
  ASSERT_TRUE(lab::eventually([&] { return sessions() == std::vector<std::string>{kHostA}; }, 10.0))
      << "QEMU did not log in";

  expect_all_ok(run_batch(loop, storage, false, 0, {0}));
  EXPECT_TRUE(sessions().empty());
  // QEMU's initiator tries to log back in at once; unbound, it cannot.
  EXPECT_FALSE(lab::eventually([&] { return !sessions().empty(); }, 0.5));
}

TEST(TgtStorage, ABadTargetNameIsAPermanentErrorNamingIt) {
  REQUIRE_TGT();
  Array array(1, 4, /*create_targets=*/false);
  WallClockLoop loop;
  TgtStorage storage(loop, array.cloud, array.config());
  auto results = run_batch(loop, storage, true, 0, {0});
  ASSERT_FALSE(results[0].ok);
  EXPECT_TRUE(results[0].permanent);
  EXPECT_NE(results[0].error.find("no target iqn.2026-12.test.revive:vm-1-disk0"), std::string::npos)
      << results[0].error;
  EXPECT_NE(results[0].error.find("array array-a: disk vm-1-disk0"), std::string::npos) << results[0].error;
}

TEST(TgtStorage, ADeadTgtdAndAMissingSocketAreTransientErrors) {
  REQUIRE_TGT();
  Array array(1);
  WallClockLoop loop;
  TgtStorage storage(loop, array.cloud, array.config());
  array.tgtd.kill();  // its socket stays behind
  auto results = run_batch(loop, storage, true, 0, {0});
  ASSERT_FALSE(results[0].ok);
  EXPECT_FALSE(results[0].permanent);
  EXPECT_NE(results[0].error.find("does not answer (dead?)"), std::string::npos) << results[0].error;

  auto gone = array.config();
  gone[0]->control_socket = (array.dir.path() / "nowhere" / "socket.0").string();
  TgtStorage elsewhere(loop, array.cloud, gone);
  results = run_batch(loop, elsewhere, false, 0, {0});
  ASSERT_FALSE(results[0].ok);
  EXPECT_FALSE(results[0].permanent);
  EXPECT_NE(results[0].error.find("tgtd is not running"), std::string::npos) << results[0].error;
}

TEST(TgtStorage, AHungTgtdTimesOutPerCall) {
  REQUIRE_TGT();
  Array array(1);
  WallClockLoop loop;
  TgtOptions options;
  options.call_timeout_s = 0.3;
  TgtStorage storage(loop, array.cloud, array.config(), options);
  array.tgtd.suspend();
  auto results = run_batch(loop, storage, true, 0, {0}, 10.0);
  array.tgtd.resume();
  ASSERT_FALSE(results[0].ok);
  EXPECT_FALSE(results[0].permanent);
  EXPECT_NE(results[0].error.find("gave no answer within 0.3 s (hung?)"), std::string::npos)
      << results[0].error;
}

TEST(TgtStorage, AnAddressRuleInTheAclMakesUnmapFailPermanently) {
  REQUIRE_TGT();
  Array array(1);
  WallClockLoop loop;
  TgtStorage storage(loop, array.cloud, array.config());
  ASSERT_TRUE(array.tgtd.admin().call({"--op", "bind", "--mode", "target", "--tid", "1", "-I", "ALL"}).ok);
  auto results = run_batch(loop, storage, false, 0, {0});
  ASSERT_FALSE(results[0].ok);
  EXPECT_TRUE(results[0].permanent);
  EXPECT_NE(results[0].error.find("address rule 'ALL'"), std::string::npos) << results[0].error;
}

TEST(TgtStorage, AHostWithoutAnInitiatorAndAnArrayWithoutDriverAreRefused) {
  REQUIRE_TGT();
  Array array(1);
  array.cloud.hosts[1].initiator.clear();
  WallClockLoop loop;
  TgtStorage storage(loop, array.cloud, array.config());
  auto results = run_batch(loop, storage, true, 1, {0});
  ASSERT_FALSE(results[0].ok);
  EXPECT_TRUE(results[0].permanent);
  EXPECT_NE(results[0].error.find("the host has no initiator name"), std::string::npos) << results[0].error;
  TgtStorage none(loop, array.cloud, {});
  results = run_batch(loop, none, true, 0, {0});
  ASSERT_FALSE(results[0].ok);
  EXPECT_NE(results[0].error.find("no storage driver is configured"), std::string::npos) << results[0].error;
}

// tgtadm wrapped by a script that logs when each call starts and ends: the calls in flight at once never
// exceed the array's max_parallel, and do exceed one (they run in parallel).
TEST(TgtStorage, CallsRunInParallelWithinTheArraysMaxParallel) {
  REQUIRE_TGT();
  constexpr std::uint32_t kMaxParallel = 3;
  Array array(12, kMaxParallel);
  auto log = array.dir.path() / "calls.log";
  auto wrapper = array.dir.write("tgtadm-logged", "#!/bin/sh\necho s >> '" + log.string() +
                                                      "'\nsleep 0.05\ntgtadm \"$@\"\nrc=$?\necho e >> '" +
                                                      log.string() + "'\nexit $rc\n");
  std::filesystem::permissions(wrapper, std::filesystem::perms::owner_all);
  WallClockLoop loop;
  TgtOptions options;
  options.tgtadm = wrapper.string();
  TgtStorage storage(loop, array.cloud, array.config(), options);
  expect_all_ok(run_batch(loop, storage, true, 0, all_disks(array.cloud)));
  std::ifstream in(log);
  std::string line;
  int running = 0, most = 0, calls = 0;
  while (std::getline(in, line)) {
    running += line == "s" ? 1 : -1;
    calls += line == "s" ? 1 : 0;
    most = std::max(most, running);
  }
  EXPECT_GE(calls, 24);  // a bind and a read-back per disk at least
  EXPECT_LE(most, static_cast<int>(kMaxParallel));
  EXPECT_GT(most, 1);
  EXPECT_EQ(array.tgtd.discovered_by(kHostA).size(), 12u);
}

}  // namespace
}  // namespace revive
