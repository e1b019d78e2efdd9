#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "detect/store_sync.h"
#include "heartbeat_sim/cluster.h"
#include "store/sqlite_store.h"
#include "support/test_support.h"

namespace revive {
namespace {

using testing::TempDir;

model::Cloud named_hosts(const std::string& prefix, int count) {
  model::Cloud cloud;
  for (int i = 0; i < count; ++i) {
    model::Host host;
    host.name = prefix + std::to_string(i);
    cloud.hosts.push_back(host);
  }
  cloud.rebuild_indexes();
  return cloud;
}

TEST(SqliteStore, KeepsSwitchesConfirmationsAndStatusAcrossOpens) {
  TempDir dir;
  auto path = (dir.path() / "sub" / "state.db").string();  // the directory is created
  {
    store::SqliteStore store(path);
    EXPECT_TRUE(store.arm_state().armed);  // untouched store: armed
    EXPECT_TRUE(store.arm_state().by.empty());
    store.set_armed(false, "alice", "network maintenance");
    store.confirm_down("host-03", "bob");
    store.confirm_down("host-04", "bob");
    store.publish_status("{\"armed\":false}");
  }
  store::SqliteStore store(path);
  auto arm = store.arm_state();
  EXPECT_FALSE(arm.armed);
  EXPECT_EQ(arm.by, "alice");
  EXPECT_EQ(arm.reason, "network maintenance");
  EXPECT_GT(arm.at_unix_ms, 0);
  auto pending = store.confirmations();
  ASSERT_EQ(pending.size(), 2u);
  EXPECT_EQ(pending[0].host, "host-03");
  store.mark_applied(pending[0].id);
  EXPECT_EQ(store.confirmations().size(), 1u);
  EXPECT_EQ(store.confirmations(true).size(), 2u);
  ASSERT_TRUE(store.published_status());
  EXPECT_EQ(store.published_status()->json, "{\"armed\":false}");
  store.set_armed(true, "carol", "");
  EXPECT_TRUE(store.arm_state().armed);
}

TEST(SqliteStore, TwoOpenersSeeEachOthersWrites) {
  TempDir dir;
  auto path = (dir.path() / "state.db").string();
  store::SqliteStore cli(path);
  store::SqliteStore daemon(path);
  cli.set_armed(false, "ops", "");
  EXPECT_FALSE(daemon.arm_state().armed);
  daemon.publish_status("{}");
  EXPECT_TRUE(cli.published_status().has_value());
}

TEST(SqliteStore, UnopenablePathIsAClearError) {
  TempDir dir;
  auto blocker = dir.write("file", "not a directory");
  try {
    store::SqliteStore store((blocker / "state.db").string());
    FAIL() << "expected StoreError";
  } catch (const env::StoreError& error) {
    EXPECT_NE(std::string(error.what()).find("state store"), std::string::npos) << error.what();
  }
}

TEST(StoreSync, DisarmHoldsFencesArmReleasesThemConfirmationsFence) {
  TempDir dir;
  store::SqliteStore store((dir.path() / "state.db").string());
  heartbeat_sim::ClusterOptions options;
  options.hosts = 6;
  options.levels = {"ipmi"};  // no lease level: a refused BMC leaves only the operator
  heartbeat_sim::SimulatedCluster cluster(options);
  model::Cloud cloud = named_hosts("host-", 6);
  auto sync = [&] { detect::sync_with_store(store, cluster.monitor(), cloud); };

  store.set_armed(false, "ops", "test");
  cluster.run_until(20.0);
  sync();
  EXPECT_FALSE(cluster.monitor().armed());
  cluster.crash(2);
  for (double t = 21.0; t <= 60.0; t += 1.0) {
    cluster.run_until(t);
    sync();
  }
  EXPECT_EQ(cluster.monitor().health(2), detect::HostHealth::failed);
  EXPECT_EQ(cluster.fences_confirmed(), 0u);
  auto published = nlohmann::json::parse(store.published_status()->json);
  EXPECT_FALSE(published["armed"].get<bool>());
  EXPECT_EQ(published["hosts"][2]["host"], "host-2");
  EXPECT_EQ(published["hosts"][2]["health"], "failed");
  EXPECT_NE(published["hosts"][2]["blocked"].get<std::string>().find("disarmed"), std::string::npos);

  store.set_armed(true, "ops", "");
  for (double t = 61.0; t <= 80.0; t += 1.0) {
    cluster.run_until(t);
    sync();
  }
  EXPECT_EQ(cluster.fences_confirmed(), 1u);
  EXPECT_TRUE(cluster.violations().empty());

  // An operator confirmation for a host whose BMC refuses the password.
  cluster.set_bmc(4, heartbeat_sim::BmcBehaviour::wrong_password);
  cluster.crash(4);
  store.confirm_down("unknown-host", "ops");
  for (double t = 81.0; t <= 120.0; t += 1.0) {
    cluster.run_until(t);
    sync();
  }
  EXPECT_EQ(cluster.monitor().health(4), detect::HostHealth::failed);
  store.confirm_down("host-4", "ops");
  cluster.run_until(121.0);
  EXPECT_EQ(detect::sync_with_store(store, cluster.monitor(), cloud), 1);
  cluster.run_until(122.0);
  auto health = cluster.monitor().health(4);
  EXPECT_TRUE(health == detect::HostHealth::recovering || health == detect::HostHealth::fenced);
  ASSERT_EQ(store.confirmations().size(), 1u);  // the unknown host stays pending
  EXPECT_EQ(store.confirmations()[0].host, "unknown-host");
}

// ------------------------------------------------------------------------------------------------- CLI

TEST(HostCommands, DisarmArmConfirmDownAndStatusThroughTheCli) {
  TempDir dir;
  std::string state = (dir.path() / "state.db").string();
  auto disarm = testing::run_cli(
      {"disarm", "--state", state, "--create", "--by", "alice", "--reason", "switch upgrade"});
  ASSERT_EQ(disarm.exit_status, 0) << disarm.err;
  EXPECT_NE(disarm.out.find("disarmed"), std::string::npos);
  auto status = testing::run_cli({"status", "--state", state});
  ASSERT_EQ(status.exit_status, 0) << status.err;
  EXPECT_NE(status.out.find("fencing: DISARMED (by alice"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("switch upgrade"), std::string::npos);
  EXPECT_NE(status.out.find("no status published yet"), std::string::npos);

  auto confirm = testing::run_cli({"host", "confirm-down", "host-0003", "--state", state, "--by", "bob"});
  ASSERT_EQ(confirm.exit_status, 0) << confirm.err;
  auto arm = testing::run_cli({"arm", "--state", state});
  ASSERT_EQ(arm.exit_status, 0) << arm.err;

  // The daemon's published view shows up in status.
  {
    store::SqliteStore store(state);
    heartbeat_sim::ClusterOptions options;
    options.hosts = 3;
    heartbeat_sim::SimulatedCluster cluster(options);
    cluster.run_until(5.0);
    model::Cloud cloud = named_hosts("h", 3);
    store.publish_status(detect::status_to_json(cluster.monitor().status(), cloud));
  }
  auto json = testing::run_cli({"status", "--state", state, "--format", "json"});
  ASSERT_EQ(json.exit_status, 0) << json.err;
  auto parsed = nlohmann::json::parse(json.out);
  EXPECT_TRUE(parsed["armed"].get<bool>());
  ASSERT_EQ(parsed["pending_confirmations"].size(), 1u);
  EXPECT_EQ(parsed["pending_confirmations"][0]["host"], "host-0003");
  EXPECT_EQ(parsed["pending_confirmations"][0]["by"], "bob");
  EXPECT_EQ(parsed["detector"]["monitored_hosts"], 3);
  EXPECT_EQ(parsed["detector"]["hosts"][1]["health"], "up");

  auto table = testing::run_cli({"status", "--state", state});
  EXPECT_NE(table.out.find("pending confirmation: host-0003 is down (by bob"), std::string::npos)
      << table.out;
  EXPECT_NE(table.out.find("storm guard off"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("h2"), std::string::npos);
}

TEST(HostCommands, BadInputExitsTwo) {
  TempDir dir;
  std::string state = (dir.path() / "state.db").string();
  auto bad_name = testing::run_cli({"host", "confirm-down", "not a host", "--state", state, "--create"});
  EXPECT_EQ(bad_name.exit_status, 2);
  EXPECT_NE(bad_name.err.find("not a host name"), std::string::npos) << bad_name.err;
  auto inventory = testing::examples_dir() / "tight-8" / "inventory.yaml";
  auto unknown = testing::run_cli({"host", "confirm-down", "no-such-host", "--state", state, "--create",
                                   "--inventory", inventory.string()});
  EXPECT_EQ(unknown.exit_status, 2);
  EXPECT_NE(unknown.err.find("is not in"), std::string::npos) << unknown.err;
  auto format = testing::run_cli({"status", "--state", state, "--format", "xml"});
  EXPECT_EQ(format.exit_status, 2);
  auto blocker = dir.write("file", "x");
  auto unopenable = testing::run_cli({"arm", "--create", "--state", (blocker / "state.db").string()});
  EXPECT_EQ(unopenable.exit_status, 2);
  EXPECT_NE(unopenable.err.find("state store"), std::string::npos) << unopenable.err;
}

}  // namespace
}  // namespace revive
