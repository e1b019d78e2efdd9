#include "daemon/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "model/inventory.h"
#include "support/test_support.h"

namespace revive::daemon {
namespace {

namespace fs = std::filesystem;
using revive::testing::read_file;
using revive::testing::source_dir;
using revive::testing::TempDir;

fs::path data_dir() {
  return source_dir() / "tests/data/daemon";
}

// The smallest valid config: the three required fields.
constexpr const char* kMinimal =
    "data_dir: state\n"                        // 1
    "inventory: inventory.yaml\n"              // 2
    "heartbeat: {key_file: heartbeat.key}\n";  // 3

// A directory holding a config with the test inventory and key beside it; errors are read back with the
// directory left out of their file names ("revived.yaml:3: ...").
class ConfigDir {
 public:
  ConfigDir() {
    dir_.write("inventory.yaml", read_file(data_dir() / "inventory.yaml"));
    dir_.write("heartbeat.key", "k3y\n");
  }

  std::string path(const std::string& name) const { return (dir_.path() / name).string(); }
  void write(const std::string& name, const std::string& text) const { dir_.write(name, text); }

  DaemonConfig load(const std::string& config) const {
    dir_.write("revived.yaml", config);
    return load_config(path("revived.yaml"));
  }

  // The diagnostics of loading `config`; fails the test when it loads or throws something else.
  std::vector<std::string> errors(const std::string& config) const {
    try {
      load(config);
      ADD_FAILURE() << "loaded without error:\n" << config;
    } catch (const ConfigError& error) {
      std::vector<std::string> lines;
      for (const auto& line : error.diagnostics()) lines.push_back(strip(line));
      return lines;
    }
    return {};
  }

  // The one diagnostic of loading `config`.
  std::string error(const std::string& config) const {
    auto lines = errors(config);
    EXPECT_EQ(lines.size(), 1u) << ::testing::PrintToString(lines);
    return lines.empty() ? "" : lines.front();
  }

  std::string strip(std::string text) const {
    std::string prefix = dir_.path().string() + "/";
    for (std::size_t at; (at = text.find(prefix)) != std::string::npos;) text.erase(at, prefix.size());
    return text;
  }

 private:
  TempDir dir_;
};

TEST(Config, ReadsEveryField) {
  DaemonConfig config = load_config((data_dir() / "revived.yaml").string());
  std::string dir = data_dir().lexically_normal().string();
  EXPECT_EQ(config.file, (data_dir() / "revived.yaml").string());
  EXPECT_EQ(config.listen_address, "0.0.0.0");
  EXPECT_EQ(config.listen_port, 8600);
  EXPECT_EQ(config.data_dir, dir + "/state");
  EXPECT_EQ(config.inventory_file, dir + "/inventory.yaml");
  EXPECT_EQ(config.inventory.hosts.size(), 3u);
  EXPECT_EQ(config.inventory.vms.size(), 4u);

  EXPECT_EQ(config.heartbeat.listen_address, "::");
  EXPECT_EQ(config.heartbeat.port, 8610);
  EXPECT_EQ(config.heartbeat.key_file, dir + "/heartbeat.key");
  EXPECT_EQ(config.heartbeat.lease_dir, "/srv/revive/leases");
  EXPECT_DOUBLE_EQ(config.heartbeat.lease_poll_s, 0.25);

  const detect::DetectorSettings& detector = config.detector;
  EXPECT_DOUBLE_EQ(detector.network_phi.expected_interval_s, 0.5);
  EXPECT_DOUBLE_EQ(detector.storage_phi.expected_interval_s, 0.5);
  EXPECT_DOUBLE_EQ(detector.network_phi.acceptable_pause_s, 2.0);
  EXPECT_DOUBLE_EQ(detector.storage_phi.acceptable_pause_s, 2.0);
  EXPECT_DOUBLE_EQ(detector.suspect_phi, 4.0);
  EXPECT_DOUBLE_EQ(detector.fail_phi, 9.5);
  EXPECT_DOUBLE_EQ(detector.lease_ttl_s, 12.0);
  EXPECT_TRUE(detector.fence_isolated);
  EXPECT_DOUBLE_EQ(detector.max_suspect_share, 0.4);
  EXPECT_EQ(detector.storm_min_hosts, 3u);
  EXPECT_DOUBLE_EQ(detector.storm_settle_s, 6.0);
  EXPECT_EQ(detector.fence_rate_limit, 10u);
  EXPECT_DOUBLE_EQ(detector.fence_rate_window_s, 120.0);
  EXPECT_DOUBLE_EQ(detector.fence_retry_s, 3.0);
  EXPECT_DOUBLE_EQ(detector.fence_retry_max_s, 90.0);
  EXPECT_DOUBLE_EQ(detector.fenced_heartbeat_grace_s, 1.5);

  EXPECT_EQ(config.fencing.levels, (std::vector<FenceLevel>{FenceLevel::ipmi, FenceLevel::fence_agent,
                                                            FenceLevel::lease, FenceLevel::manual}));
  EXPECT_EQ(config.fencing.ipmitool, "/usr/bin/ipmitool");
  EXPECT_EQ(config.fencing.fence_agent, dir + "/bin/fence_ipmilan");
  EXPECT_DOUBLE_EQ(config.fencing.command_timeout_s, 15.0);
  EXPECT_DOUBLE_EQ(config.fencing.confirm_timeout_s, 45.0);

  const exec::ExecutorOptions& recovery = config.recovery;
  EXPECT_EQ(recovery.strategy, exec::Strategy::parallel);
  EXPECT_EQ(recovery.max_attempts, 4u);
  EXPECT_DOUBLE_EQ(recovery.retry_backoff_s, 1.5);
  EXPECT_EQ(recovery.max_replans, 2u);
  EXPECT_EQ(recovery.max_fence_attempts, 6u);
  EXPECT_DOUBLE_EQ(recovery.timeout_factor, 4.0);
  EXPECT_DOUBLE_EQ(recovery.min_timeout_s, 30.0);
  EXPECT_EQ(recovery.global_max_parallel, 64u);

  EXPECT_DOUBLE_EQ(config.evacuation_default_deadline_s, 1200.0);
  EXPECT_EQ(config.vm_restart.max_restarts, 5u);
  EXPECT_DOUBLE_EQ(config.vm_restart.window_s, 900.0);
  EXPECT_DOUBLE_EQ(config.vm_restart.delay_s, 1.0);
  EXPECT_DOUBLE_EQ(config.capacity_check_interval_s, 1800.0);
  EXPECT_DOUBLE_EQ(config.discovery_interval_s, 20.0);

  const LibvirtConfig& libvirt = config.libvirt;
  EXPECT_DOUBLE_EQ(libvirt.connect_timeout_s, 5.0);
  EXPECT_EQ(libvirt.keepalive_interval_s, 2);
  EXPECT_EQ(libvirt.keepalive_count, 3u);
  EXPECT_DOUBLE_EQ(libvirt.call_timeout_s, 30.0);
  EXPECT_DOUBLE_EQ(libvirt.shutdown_timeout_s, 60.0);
  EXPECT_DOUBLE_EQ(libvirt.migrate_timeout_s, 600.0);
  EXPECT_TRUE(libvirt.peer_to_peer);
  EXPECT_EQ(libvirt.migration_bandwidth_mib_s, 1000u);
  EXPECT_EQ(libvirt.migration_uris, (std::vector<std::pair<std::string, std::string>>{
                                        {"node-1", "tcp://192.168.10.1"}, {"node-3", "tcp://192.168.10.3"}}));
  EXPECT_EQ(config.decisions.keep, 42u);
}

TEST(Config, InventoryVmsArePolicyForDiscoveredVms) {
  DaemonConfig config = load_config((data_dir() / "revived.yaml").string());
  const model::Cloud& cloud = config.inventory;
  const model::Vm& db = cloud.vms[cloud.find_vm("db-1")];
  EXPECT_EQ(db.host, model::kNoIndex);
  EXPECT_EQ(db.cpus, 0u);
  EXPECT_EQ(db.priority, model::Priority::critical);
  EXPECT_FALSE(cloud.vms[cloud.find_vm("batch-1")].protect);
  EXPECT_EQ(cloud.hosts[cloud.find_host("node-2")].uri, "qemu+ssh://root@node-2/system");
}

TEST(Config, AppliesDefaults) {
  ConfigDir dir;
  DaemonConfig config = dir.load(kMinimal);
  DaemonConfig defaults;
  EXPECT_EQ(config.listen_address, "127.0.0.1");
  EXPECT_EQ(config.listen_port, 7600);
  EXPECT_EQ(config.api.request_threads, 16u);
  EXPECT_EQ(config.decisions.keep, 500u);
  EXPECT_EQ(config.heartbeat.listen_address, "0.0.0.0");
  EXPECT_EQ(config.heartbeat.port, 7610);
  EXPECT_EQ(config.heartbeat.lease_dir, "");
  EXPECT_DOUBLE_EQ(config.heartbeat.lease_poll_s, 0.5);
  detect::DetectorSettings detector;
  EXPECT_DOUBLE_EQ(config.detector.network_phi.expected_interval_s, detector.network_phi.expected_interval_s);
  EXPECT_DOUBLE_EQ(config.detector.network_phi.acceptable_pause_s, 1.0);
  EXPECT_DOUBLE_EQ(config.detector.storage_phi.acceptable_pause_s, 3.0);
  EXPECT_DOUBLE_EQ(config.detector.suspect_phi, 5.0);
  EXPECT_DOUBLE_EQ(config.detector.fail_phi, 8.0);
  EXPECT_FALSE(config.detector.fence_isolated);
  EXPECT_EQ(config.detector.fence_rate_limit, detector.fence_rate_limit);
  EXPECT_EQ(config.fencing.levels, (std::vector<FenceLevel>{FenceLevel::ipmi, FenceLevel::manual}));
  EXPECT_EQ(config.fencing.ipmitool, "ipmitool");  // a bare command stays a name for PATH
  EXPECT_EQ(config.fencing.fence_agent, "fence_ipmilan");
  EXPECT_EQ(config.recovery.strategy, exec::Strategy::revive);
  EXPECT_EQ(config.recovery.max_attempts, 3u);
  EXPECT_EQ(config.recovery.global_max_parallel, 0u);
  EXPECT_DOUBLE_EQ(config.evacuation_default_deadline_s, 600.0);
  EXPECT_EQ(config.vm_restart.max_restarts, 3u);
  EXPECT_DOUBLE_EQ(config.capacity_check_interval_s, 3600.0);
  EXPECT_DOUBLE_EQ(config.discovery_interval_s, 30.0);
  EXPECT_DOUBLE_EQ(config.libvirt.migrate_timeout_s, defaults.libvirt.migrate_timeout_s);
  EXPECT_FALSE(config.libvirt.peer_to_peer);
  EXPECT_TRUE(config.libvirt.migration_uris.empty());
}

TEST(Config, NullSectionsReadAsDefaults) {
  ConfigDir dir;
  DaemonConfig config = dir.load(std::string(kMinimal) + "detector:\nlibvirt: ~\n");
  EXPECT_DOUBLE_EQ(config.detector.fail_phi, 8.0);
}

TEST(Config, ResolvesRelativePathsAgainstTheConfigDirectory) {
  ConfigDir dir;
  fs::create_directories(dir.path("etc"));
  dir.write("etc/revived.yaml",
            "data_dir: ../var/\n"
            "inventory: ../inventory.yaml\n"
            "heartbeat: {key_file: ./../heartbeat.key, lease_dir: leases}\n"
            "fencing: {levels: [fence_agent], fence_agent: ../bin/fence_ipmilan, ipmitool: /opt/ipmitool}\n");
  std::string root = fs::path(dir.path("")).lexically_normal().string();
  DaemonConfig config = load_config(dir.path("etc/revived.yaml"));
  EXPECT_EQ(config.data_dir, root + "var");
  EXPECT_EQ(config.inventory_file, root + "inventory.yaml");
  EXPECT_EQ(config.heartbeat.key_file, root + "heartbeat.key");
  EXPECT_EQ(config.heartbeat.lease_dir, root + "etc/leases");
  EXPECT_EQ(config.fencing.fence_agent, root + "bin/fence_ipmilan");
  EXPECT_EQ(config.fencing.ipmitool, "/opt/ipmitool");
}

TEST(Config, ReportsMissingRequiredFields) {
  ConfigDir dir;
  EXPECT_EQ(dir.errors("listen: 127.0.0.1:7600\n"),
            (std::vector<std::string>{"revived.yaml:1: data_dir: missing required field",
                                      "revived.yaml:1: inventory: missing required field",
                                      "revived.yaml:1: heartbeat.key_file: missing required field"}));
  EXPECT_EQ(dir.error("data_dir: state\n"
                      "inventory: inventory.yaml\n"
                      "heartbeat:\n"
                      "  lease_poll_s: 1\n"),
            "revived.yaml:4: heartbeat.key_file: missing required field");
}

TEST(Config, ReportsWrongTypes) {
  ConfigDir dir;
  auto with = [&](const std::string& lines) { return dir.error(std::string(kMinimal) + lines); };
  EXPECT_EQ(with("detector: {suspect_phi: high}\n"),
            "revived.yaml:4: detector.suspect_phi: expected a number, got 'high'");
  EXPECT_EQ(with("detector: {suspect_phi: \"5\"}\n"),
            "revived.yaml:4: detector.suspect_phi: expected a number, got the string '5'");
  EXPECT_EQ(with("recovery: {max_attempts: 2.5}\n"),
            "revived.yaml:4: recovery.max_attempts: expected an integer, got '2.5'");
  EXPECT_EQ(with("detector: {fence_isolated: yes}\n"),
            "revived.yaml:4: detector.fence_isolated: expected true or false, got 'yes'");
  EXPECT_EQ(with("fencing: {ipmitool: [a]}\n"),
            "revived.yaml:4: fencing.ipmitool: expected a string, got a list");
  EXPECT_EQ(with("detector: [1]\n"), "revived.yaml:4: detector: expected a mapping, got a list");
  EXPECT_EQ(with("fencing: {levels: ipmi}\n"), "revived.yaml:4: fencing.levels: expected a list, got 'ipmi'");
  EXPECT_EQ(with("libvirt: {migration_uris: [node-1]}\n"),
            "revived.yaml:4: libvirt.migration_uris: expected a mapping of host: URI, got a list");
  EXPECT_EQ(with("discovery: {interval_s: }\n"),
            "revived.yaml:4: discovery.interval_s: expected a number, got nothing (null)");
  EXPECT_EQ(dir.error("data_dir: \"\"\ninventory: inventory.yaml\nheartbeat: {key_file: heartbeat.key}\n"),
            "revived.yaml:1: data_dir: must not be empty");
}

TEST(Config, ReportsValuesOutOfRange) {
  ConfigDir dir;
  auto with = [&](const std::string& lines) { return dir.error(std::string(kMinimal) + lines); };
  EXPECT_EQ(with("detector: {interval_s: 0}\n"),
            "revived.yaml:4: detector.interval_s: must be greater than 0, got 0");
  EXPECT_EQ(with("recovery: {max_attempts: 0}\n"),
            "revived.yaml:4: recovery.max_attempts: must be at least 1, got 0");
  EXPECT_EQ(with("detector: {max_suspect_share: 1.5}\n"),
            "revived.yaml:4: detector.max_suspect_share: must be at most 1, got 1.5");
  EXPECT_EQ(with("vm_restart: {delay_s: -1}\n"),
            "revived.yaml:4: vm_restart.delay_s: must be at least 0, got -1");
  EXPECT_EQ(with("detector: {storm_min_hosts: 99999999999}\n"),
            "revived.yaml:4: detector.storm_min_hosts: too large: 99999999999 (at most 4294967295)");
  EXPECT_EQ(with("libvirt: {keepalive_count: -2}\n"),
            "revived.yaml:4: libvirt.keepalive_count: must be at least 0, got -2");
}

TEST(Config, ReportsUnknownKeysWithTheClosestName) {
  ConfigDir dir;
  auto with = [&](const std::string& lines) { return dir.error(std::string(kMinimal) + lines); };
  EXPECT_EQ(with("detectr: {}\n"), "revived.yaml:4: detectr: unknown field (did you mean detector?)");
  EXPECT_EQ(with("detector:\n  intervl_s: 1\n"),
            "revived.yaml:5: detector.intervl_s: unknown field (did you mean interval_s?)");
  EXPECT_EQ(with("libvirt: {peer2peer: true}\n"),
            "revived.yaml:4: libvirt.peer2peer: unknown field (did you mean peer_to_peer?)");
  EXPECT_EQ(with("colour: red\n"),
            "revived.yaml:4: colour: unknown field (expected one of: listen, data_dir, inventory, heartbeat, "
            "detector, fencing, recovery, evacuation, vm_restart, capacity_check, discovery, libvirt, api, "
            "log, alerts, storage, decisions)");
  EXPECT_EQ(with("recovery: {strategy: revivee}\n"),
            "revived.yaml:4: recovery.strategy: expected serial, parallel-restart, parallel or revive, got "
            "'revivee' (did you mean revive?)");
  EXPECT_EQ(
      with("fencing: {levels: [ipmi, lease, bmc]}\n"),
      "revived.yaml:4: fencing.levels[2]: expected ipmi, fence_agent, storage, lease or manual, got 'bmc'");
  EXPECT_EQ(with("data_dir: other\n"), "revived.yaml:4: data_dir: field given twice (first at line 1)");
}

TEST(Config, ReportsBadAddresses) {
  ConfigDir dir;
  auto with = [&](const std::string& lines) { return dir.error(std::string(kMinimal) + lines); };
  EXPECT_EQ(
      with("listen: localhost\n"),
      "revived.yaml:4: listen: expected ADDRESS:PORT (e.g. 127.0.0.1:7600, [::1]:7600), got 'localhost'");
  EXPECT_EQ(with("listen: 7600\n"),
            "revived.yaml:4: listen: expected ADDRESS:PORT (e.g. 127.0.0.1:7600, [::1]:7600), got '7600'");
  EXPECT_EQ(
      with("listen: \"::1:7600\"\n"),
      "revived.yaml:4: listen: expected ADDRESS:PORT (e.g. 127.0.0.1:7600, [::1]:7600), got '::1:7600'");
  EXPECT_EQ(with("listen: 127.0.0.1:0\n"),
            "revived.yaml:4: listen: the port must be an integer from 1 to 65535, got '0'");
  EXPECT_EQ(dir.error("data_dir: state\ninventory: inventory.yaml\n"
                      "heartbeat: {key_file: heartbeat.key, listen: \"0.0.0.0:http\"}\n"),
            "revived.yaml:3: heartbeat.listen: the port must be an integer from 1 to 65535, got 'http'");
  DaemonConfig config = dir.load(std::string(kMinimal) + "listen: \"[::1]:9000\"\n");
  EXPECT_EQ(config.listen_address, "::1");
  EXPECT_EQ(config.listen_port, 9000);
}

TEST(Config, ChecksRulesBetweenFields) {
  ConfigDir dir;
  auto with = [&](const std::string& lines) { return dir.error(std::string(kMinimal) + lines); };
  EXPECT_EQ(with("detector: {suspect_phi: 5, fail_phi: 5}\n"),
            "revived.yaml:4: detector.fail_phi: must be greater than suspect_phi (5)");
  EXPECT_EQ(with("detector: {suspect_phi: 9}\n"),
            "revived.yaml:4: detector.suspect_phi: must be less than fail_phi (8)");
  EXPECT_EQ(with("detector: {fence_retry_s: 10, fence_retry_max_s: 5}\n"),
            "revived.yaml:4: detector.fence_retry_max_s: must be at least fence_retry_s (10)");
  EXPECT_EQ(
      with("detector: {fenced_heartbeat_grace_s: 0.2}\n"),
      "revived.yaml:4: detector.fenced_heartbeat_grace_s: must be at least heartbeat.lease_poll_s (0.5): a "
      "lease record read one poll late must not void a fence");
  EXPECT_EQ(with("fencing: {levels: [ipmi, manual, ipmi]}\n"),
            "revived.yaml:4: fencing.levels[2]: level 'ipmi' listed twice (first at line 4)");
  EXPECT_EQ(with("fencing: {levels: []}\n"),
            "revived.yaml:4: fencing.levels: must list at least one level (manual: an operator confirms)");
  EXPECT_EQ(
      dir.errors(std::string(kMinimal) + "libvirt:\n"
                                         "  migration_uris:\n"
                                         "    node-1: tcp://a\n"
                                         "    node-4: tcp://b\n"
                                         "    db: tcp://c\n"
                                         "    node-1: tcp://d\n"),
      (std::vector<std::string>{
          "revived.yaml:7: libvirt.migration_uris.node-4: not a host of the inventory (did you mean node-1?)",
          "revived.yaml:8: libvirt.migration_uris.db: not a host of the inventory",
          "revived.yaml:9: libvirt.migration_uris.node-1: host given twice (first at line 6)"}));
}

TEST(Config, ChecksTheFilesItNames) {
  ConfigDir dir;
  dir.write("empty.key", "\n");
  fs::create_directories(dir.path("a-directory"));
  dir.write("a-file", "x");
  EXPECT_EQ(dir.error("data_dir: state\ninventory: inventory.yaml\nheartbeat: {key_file: nokey}\n"),
            "revived.yaml:3: heartbeat.key_file: no such file: nokey");
  EXPECT_EQ(dir.error("data_dir: state\ninventory: inventory.yaml\nheartbeat: {key_file: empty.key}\n"),
            "revived.yaml:3: heartbeat.key_file: the key file is empty: empty.key");
  EXPECT_EQ(dir.error("data_dir: state\ninventory: inventory.yaml\nheartbeat: {key_file: a-directory}\n"),
            "revived.yaml:3: heartbeat.key_file: cannot read a-directory: not a file");
  EXPECT_EQ(dir.error("data_dir: state\ninventory: none.yaml\nheartbeat: {key_file: heartbeat.key}\n"),
            "revived.yaml:2: inventory: no such file: none.yaml");
  EXPECT_EQ(
      dir.error("data_dir: no/such/state\ninventory: inventory.yaml\nheartbeat: {key_file: heartbeat.key}\n"),
      "revived.yaml:1: data_dir: its parent directory does not exist: no/such");
  EXPECT_EQ(dir.error("data_dir: a-file\ninventory: inventory.yaml\nheartbeat: {key_file: heartbeat.key}\n"),
            "revived.yaml:1: data_dir: not a directory: a-file");
  // An existing data_dir is fine as well as a missing one in an existing directory.
  EXPECT_NO_THROW(
      dir.load("data_dir: a-directory\ninventory: inventory.yaml\nheartbeat: {key_file: heartbeat.key}\n"));
}

TEST(Config, ReadsTheApiTokensAndTls) {
  ConfigDir dir;
  dir.write("tokens", "# who may call the API\nops operator " + api::sha256_hex("s3cret") + "\n");
  dir.write("server.pem", "cert");
  dir.write("server.key", "key");
  DaemonConfig open = dir.load(kMinimal);
  EXPECT_FALSE(open.api.tokens);
  EXPECT_TRUE(open.api.certificate_file.empty());
  DaemonConfig config = dir.load(std::string(kMinimal) +
                                 "api:\n"
                                 "  tokens_file: tokens\n"
                                 "  tls: {certificate_file: server.pem, key_file: server.key}\n");
  EXPECT_EQ(config.api.tokens_file, dir.path("tokens"));
  ASSERT_TRUE(config.api.tokens);
  ASSERT_NE(config.api.tokens->find("s3cret"), nullptr);
  EXPECT_EQ(config.api.tokens->find("s3cret")->name, "ops");
  EXPECT_EQ(config.api.certificate_file, dir.path("server.pem"));
  EXPECT_EQ(config.api.key_file, dir.path("server.key"));
}

TEST(Config, ReportsUnreadableOrBadApiFiles) {
  ConfigDir dir;
  dir.write("bad-tokens", "ops root " + api::sha256_hex("s3cret") + "\n");
  dir.write("server.pem", "cert");
  fs::create_directories(dir.path("a-directory"));
  EXPECT_EQ(dir.error(std::string(kMinimal) + "api: {tokens_file: none}\n"),
            "revived.yaml:4: api.tokens_file: no such file: none");
  EXPECT_EQ(dir.error(std::string(kMinimal) + "api:\n  tokens_file: bad-tokens\n"),
            "revived.yaml:5: api.tokens_file: bad-tokens:1: the role must be viewer, operator or admin, got "
            "'root'");
  EXPECT_EQ(dir.error(std::string(kMinimal) + "api:\n  tls:\n    certificate_file: server.pem\n"
                                              "    key_file: a-directory\n"),
            "revived.yaml:7: api.tls.key_file: cannot read a-directory: not a file");
  EXPECT_EQ(dir.error(std::string(kMinimal) + "api:\n  tls:\n    key_file: server.pem\n"),
            "revived.yaml:6: api.tls.certificate_file: missing required field");
  EXPECT_EQ(dir.error(std::string(kMinimal) + "api: {token_file: x}\n"),
            "revived.yaml:4: api.token_file: unknown field (did you mean tokens_file?)");
}

constexpr const char* kHostsWithoutUriOrBmc =
    "version: 1\n"
    "endpoints: [{name: e, max_parallel: 2}]\n"
    "hosts:\n"
    "- {name: h1, cpus: 4, memory_mib: 4096, endpoint: e, uri: 'qemu+ssh://h1/system'}\n"
    "- {name: h2, cpus: 4, memory_mib: 4096, endpoint: e}\n"
    "- {name: h3, cpus: 4, memory_mib: 4096, endpoint: e}\n";

TEST(Config, ChecksTheInventoryAgainstTheDaemon) {
  ConfigDir dir;
  dir.write("bare.yaml", kHostsWithoutUriOrBmc);
  std::string bare = "data_dir: state\ninventory: bare.yaml\nheartbeat: {key_file: heartbeat.key}\n";
  EXPECT_EQ(
      dir.errors(bare + "fencing: {levels: [lease, fence_agent, ipmi]}\n"),
      (std::vector<std::string>{
          "revived.yaml:2: inventory: host 'h2' has no uri: the daemon cannot watch it (bare.yaml)",
          "revived.yaml:2: inventory: host 'h3' has no uri: the daemon cannot watch it (bare.yaml)",
          "revived.yaml:4: fencing.levels[1]: fence_agent needs a host with a bmc, and no host of the "
          "inventory has one",
          "revived.yaml:4: fencing.levels[2]: ipmi needs a host with a bmc, and no host of the inventory "
          "has one"}));
  auto errors = dir.errors(bare);
  EXPECT_THAT(errors,
              ::testing::Contains("revived.yaml:2: fencing.levels: the default levels (ipmi, manual) "
                                  "need a host with a bmc, and no host of the inventory has one; list "
                                  "the levels to use"));
}

// An inventory with one array that node-1 and node-2 reach (node-2 without an initiator) and one VM disk on
// it.
constexpr const char* kStorageInventory =
    "version: 1\n"
    "endpoints: [{name: libvirt, max_parallel: 8}]\n"
    "arrays: [{name: array-a, max_parallel: 4}]\n"
    "hosts:\n"
    "  - {name: node-1, cpus: 4, memory_mib: 4096, endpoint: libvirt, uri: 'test:///default', arrays: "
    "[array-a], initiator: 'iqn.2026-12.com.example:node-1'}\n"
    "  - {name: node-2, cpus: 4, memory_mib: 4096, endpoint: libvirt, uri: 'test:///default', arrays: "
    "[array-a]}\n"
    "vms:\n"
    "  - {name: db-1, disks: [{name: db-1-root, array: array-a, size_gib: 8}]}\n";

TEST(Config, ReadsTheStorageArraysAndChecksThemAgainstTheInventory) {
  ConfigDir dir;
  std::string inventory = kStorageInventory;
  dir.write("storage.yaml", inventory.replace(inventory.find("[array-a]}"), 10,
                                              "[array-a], initiator: 'iqn.2026-12.com.example:node-2'}"));
  std::string head =
      "data_dir: state\ninventory: storage.yaml\nheartbeat: {key_file: heartbeat.key}\n"
      "fencing: {levels: [storage, manual]}\n";
  DaemonConfig config = dir.load(head +
                                 "storage:\n"
                                 "  call_timeout_s: 2\n"
                                 "  arrays:\n"
                                 "    array-a: {driver: tgt, control_socket: tgtd/socket.3, target_prefix: "
                                 "iqn.2026-12.com.example.array-a}\n");
  ASSERT_EQ(config.storage.arrays.size(), 1u);
  EXPECT_EQ(config.storage.arrays[0].array, "array-a");
  EXPECT_EQ(config.storage.arrays[0].driver, "tgt");
  EXPECT_EQ(config.storage.arrays[0].control_socket, dir.path("tgtd/socket.3"));
  EXPECT_EQ(config.storage.arrays[0].target_prefix, "iqn.2026-12.com.example.array-a");
  EXPECT_EQ(config.storage.call_timeout_s, 2.0);
  EXPECT_EQ(config.inventory.hosts[1].initiator, "iqn.2026-12.com.example:node-2");

  EXPECT_EQ(dir.error(head + "storage: {arrays: {array-a: {driver: svc, control_socket: /s.0, target_prefix: "
                             "iqn.2026-12.com.example}}}\n"),
            "revived.yaml:5: storage.arrays.array-a.driver: expected tgt, got 'svc'");
  EXPECT_EQ(dir.error(head + "storage: {arrays: {array-a: {control_socket: /run/tgtd/socket, target_prefix: "
                             "iqn.2026-12.com.example}}}\n"),
            "revived.yaml:5: storage.arrays.array-a.control_socket: expected tgtd's control socket BASE.N "
            "(tgtd -C N with TGT_IPC_SOCKET=BASE, e.g. /var/run/tgtd/socket.0), got '/run/tgtd/socket'");
  EXPECT_EQ(
      dir.error(head + "storage: {arrays: {array-a: {control_socket: /s.0, target_prefix: Array-A}}}\n"),
      "revived.yaml:5: storage.arrays.array-a.target_prefix: expected an iSCSI name "
      "(iqn.YYYY-MM.reversed.domain[:name] in lower case), got 'Array-A'");
  EXPECT_EQ(dir.error(head + "storage: {arrays: {array-b: {control_socket: /s.0, target_prefix: "
                             "iqn.2026-12.com.example}}}\n"),
            "revived.yaml:5: storage.arrays.array-b: not an array of the inventory (did you mean array-a?)");
  EXPECT_EQ(dir.error(head + "storage: {arrays: {array-a: {target_prefix: iqn.2026-12.com.example}}}\n"),
            "revived.yaml:5: storage.arrays.array-a.control_socket: missing required field");
  EXPECT_EQ(dir.error(head + "storage: {arrays: {array-a: {control_socket: /s.0, target_prefix: "
                             "iqn.2026-12.com.example, portal: x}}}\n"),
            "revived.yaml:5: storage.arrays.array-a.portal: unknown field (expected one of: driver, "
            "control_socket, target_prefix)");
  // The storage fence level needs an array driver.
  EXPECT_EQ(dir.error(head),
            "revived.yaml:4: fencing.levels[0]: storage needs an array driver "
            "(storage.arrays), and none is configured");
}

TEST(Config, AHostReachingATgtArrayNeedsAnInitiatorName) {
  ConfigDir dir;
  dir.write("storage.yaml", kStorageInventory);
  EXPECT_EQ(
      dir.error("data_dir: state\ninventory: storage.yaml\nheartbeat: {key_file: heartbeat.key}\n"
                "fencing: {levels: [manual]}\n"
                "storage: {arrays: {array-a: {control_socket: /s.0, target_prefix: iqn.2026-12.x}}}\n"),
      "revived.yaml:5: storage.arrays.array-a: host 'node-2' reaches this array but has no initiator name "
      "(inventory: hosts[node-2].initiator, storage.yaml)");
}

TEST(Config, BadInitiatorNamesAreInventoryErrors) {
  ConfigDir dir;
  std::string inventory = kStorageInventory;
  inventory.replace(inventory.find("[array-a]}"), 10,
                    "[array-a], initiator: 'iqn.2026-12.com.example:node-1'}");
  dir.write("storage.yaml", inventory);
  try {
    dir.load(
        "data_dir: state\ninventory: storage.yaml\nheartbeat: {key_file: heartbeat.key}\n"
        "fencing: {levels: [manual]}\n");
    ADD_FAILURE() << "loaded";
  } catch (const model::InventoryError& error) {
    ASSERT_EQ(error.diagnostics().size(), 1u);
    EXPECT_EQ(
        dir.strip(error.diagnostics()[0].to_string()),
        "storage.yaml:6: hosts[node-2].initiator: initiator 'iqn.2026-12.com.example:node-1' is already the "
        "initiator of host 'node-1' (line 5)");
  }
  inventory = kStorageInventory;
  inventory.replace(inventory.find("[array-a]}"), 10, "[array-a], initiator: node-2}");
  dir.write("storage.yaml", inventory);
  try {
    dir.load(
        "data_dir: state\ninventory: storage.yaml\nheartbeat: {key_file: heartbeat.key}\n"
        "fencing: {levels: [manual]}\n");
    ADD_FAILURE() << "loaded";
  } catch (const model::InventoryError& error) {
    ASSERT_EQ(error.diagnostics().size(), 1u);
    EXPECT_EQ(
        dir.strip(error.diagnostics()[0].to_string()),
        "storage.yaml:6: hosts[node-2].initiator: expected an iSCSI name (iqn.YYYY-MM.reversed.domain[:name] "
        "in lower case, eui.16HEX or naa.16HEX/32HEX), got 'node-2'");
  }
}

TEST(Config, PassesInventoryErrorsThroughUnchanged) {
  ConfigDir dir;
  std::string broken = read_file(data_dir() / "inventory.yaml");
  broken.replace(broken.find("  - {name: batch-1"), 0, "  - {name: db-1, cpus: 0}\n");
  dir.write("broken.yaml", broken);
  std::string expected;
  try {
    model::load_inventory_file(dir.path("broken.yaml"), {.vm_placement_from_discovery = true});
  } catch (const model::InventoryError& error) {
    expected = error.what();
  }
  ASSERT_THAT(expected, ::testing::HasSubstr("duplicate VM name 'db-1'"));
  try {
    dir.load("data_dir: state\ninventory: broken.yaml\nheartbeat: {key_file: heartbeat.key}\n");
    FAIL() << "loaded";
  } catch (const model::InventoryError& error) {
    EXPECT_EQ(std::string(error.what()), expected);
    EXPECT_EQ(error.diagnostics().size(), 2u);
  }
  // With errors of the config itself: one ConfigError, the config's errors first, then the inventory's.
  auto errors = dir.errors(
      "data_dir: state\ninventory: broken.yaml\nheartbeat: {key_file: heartbeat.key}\n"
      "discovery: {interval_s: 0}\n");
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0], "revived.yaml:4: discovery.interval_s: must be greater than 0, got 0");
  EXPECT_EQ(errors[1] + "\n" + errors[2] + "\n", dir.strip(expected));
}

TEST(Config, ReportsEveryErrorAtOnceInLineOrder) {
  ConfigDir dir;
  auto errors = dir.errors(
      "listen: nowhere\n"               // 1
      "inventory: inventory.yaml\n"     // 2
      "heartbeat:\n"                    // 3
      "  key_file: heartbeat.key\n"     // 4
      "  lease_pol_s: 1\n"              // 5
      "detector:\n"                     // 6
      "  fail_phi: 2\n"                 // 7
      "  fence_isolated: maybe\n"       // 8
      "recovery: {strategy: fast}\n");  // 9
  EXPECT_EQ(errors,
            (std::vector<std::string>{
                "revived.yaml:1: listen: expected ADDRESS:PORT (e.g. 127.0.0.1:7600, [::1]:7600), got "
                "'nowhere'",
                "revived.yaml:1: data_dir: missing required field",
                "revived.yaml:5: heartbeat.lease_pol_s: unknown field (did you mean lease_poll_s?)",
                "revived.yaml:7: detector.fail_phi: must be greater than suspect_phi (5)",
                "revived.yaml:8: detector.fence_isolated: expected true or false, got 'maybe'",
                "revived.yaml:9: recovery.strategy: expected serial, parallel-restart, parallel or "
                "revive, got 'fast'"}));
}

TEST(Config, ReportsUnreadableAndMalformedFiles) {
  ConfigDir dir;
  try {
    load_config(dir.path("none.yaml"));
    FAIL() << "loaded";
  } catch (const ConfigError& error) {
    EXPECT_EQ(dir.strip(error.what()), "none.yaml:0: file: cannot read: No such file or directory\n");
  }
  EXPECT_EQ(dir.error("data_dir: [\n"),
            "revived.yaml:2: yaml: did not find expected node content (while parsing a flow node)");
  EXPECT_EQ(
      dir.error("- a\n"),
      "revived.yaml:1: (document): a config is a mapping with listen, data_dir, inventory, heartbeat...; got "
      "a list");
  EXPECT_EQ(
      dir.error(""),
      "revived.yaml:1: (document): a config is a mapping with listen, data_dir, inventory, heartbeat...; got "
      "nothing (null)");
}

TEST(Config, LoadsTheExampleDaemonConfig) {
  DaemonConfig config = load_config((revive::testing::examples_dir() / "daemon/revived.yaml").string());
  EXPECT_EQ(config.inventory.hosts.size(), 3u);
  for (const auto& host : config.inventory.hosts) {
    EXPECT_THAT(host.uri, ::testing::StartsWith("qemu+ssh://")) << host.name;
    EXPECT_TRUE(host.bmc.has_value()) << host.name;
  }
  EXPECT_GE(config.inventory.vms.size(), 3u);
}

}  // namespace
}  // namespace revive::daemon

namespace revive::daemon {
namespace {

TEST(Config, ReadsLogAlertsAndOpenMetrics) {
  ConfigDir dir;
  auto config = dir.load(std::string(kMinimal) +
                         "api: {metrics_open: true, request_threads: 32}\n"
                         "log: {format: json, level: warn}\n"
                         "alerts:\n"
                         "  queue_size: 50\n"
                         "  webhooks:\n"
                         "    - {url: 'http://127.0.0.1:9/hook', events: [host_failed, recovery_finished],\n"
                         "       timeout_s: 2, retries: 1, backoff_s: 0.5}\n"
                         "  commands:\n"
                         "    - {command: ./notify.sh, events: [fence_failed], timeout_s: 3}\n");
  EXPECT_TRUE(config.api.metrics_open);
  EXPECT_EQ(config.api.request_threads, 32u);
  EXPECT_TRUE(config.log.json);
  EXPECT_EQ(config.log.level, "warn");
  EXPECT_EQ(config.alerts.queue_size, 50u);
  ASSERT_EQ(config.alerts.webhooks.size(), 1u);
  EXPECT_EQ(config.alerts.webhooks[0].url, "http://127.0.0.1:9/hook");
  EXPECT_EQ(config.alerts.webhooks[0].events, (std::vector<std::string>{"host_failed", "recovery_finished"}));
  EXPECT_EQ(config.alerts.webhooks[0].retries, 1u);
  EXPECT_EQ(config.alerts.webhooks[0].backoff_s, 0.5);
  ASSERT_EQ(config.alerts.commands.size(), 1u);
  EXPECT_EQ(config.alerts.commands[0].command, dir.path("notify.sh"));
  EXPECT_EQ(config.alerts.commands[0].timeout_s, 3.0);
}

TEST(Config, ReportsBadLogAndAlerts) {
  ConfigDir dir;
  auto with = [&](const std::string& lines) { return dir.error(std::string(kMinimal) + lines); };
  EXPECT_EQ(with("log: {format: xml}\n"), "revived.yaml:4: log.format: expected text or json, got 'xml'");
  EXPECT_EQ(with("alerts:\n  webhooks:\n    - {url: 'ftp://x', events: [host_failed]}\n"),
            "revived.yaml:6: alerts.webhooks[0].url: expected an http:// or https:// URL, got 'ftp://x'");
  EXPECT_EQ(with("alerts:\n  webhooks:\n    - {url: 'http://x/', events: [host_faild]}\n"),
            "revived.yaml:6: alerts.webhooks[0].events[0]: expected host_suspect, host_failed, "
            "host_isolated, host_fenced, fence_failed, fence_held, recovery_finished, evacuation_finished, "
            "vms_waiting, capacity_shortfall or recovery_time_shortfall, got 'host_faild' (did you mean "
            "host_failed?)");
  EXPECT_EQ(with("alerts:\n  commands:\n    - {events: [host_failed]}\n"),
            "revived.yaml:6: alerts.commands[0].command: missing required field");
  EXPECT_EQ(with("alerts:\n  commands:\n    - {command: x, events: []}\n"),
            "revived.yaml:6: alerts.commands[0].events: expected a non-empty list of alert kinds "
            "(host_suspect, host_failed, host_isolated, host_fenced, fence_failed, fence_held, "
            "recovery_finished, evacuation_finished, vms_waiting, capacity_shortfall, "
            "recovery_time_shortfall), got an empty list");
  EXPECT_EQ(with("api: {metrics_open: maybe}\n"),
            "revived.yaml:4: api.metrics_open: expected true or false, got 'maybe'");
  EXPECT_EQ(with("api: {request_threads: 0}\n"),
            "revived.yaml:4: api.request_threads: must be at least 1, got 0");
  EXPECT_EQ(with("api: {request_threads: 1000}\n"),
            "revived.yaml:4: api.request_threads: must be at most 256, got 1000");
}

TEST(Config, ReadsAndChecksHowManyDecisionsAreKept) {
  ConfigDir dir;
  EXPECT_EQ(dir.load(std::string(kMinimal) + "decisions: {keep: 20}\n").decisions.keep, 20u);
  EXPECT_EQ(dir.load(std::string(kMinimal) + "decisions: {keep: 0}\n").decisions.keep, 0u);
  EXPECT_EQ(dir.load(std::string(kMinimal) + "decisions:\n").decisions.keep, 500u);
  auto with = [&](const std::string& lines) { return dir.error(std::string(kMinimal) + lines); };
  EXPECT_EQ(with("decisions: {keep: -1}\n"), "revived.yaml:4: decisions.keep: must be at least 0, got -1");
  EXPECT_EQ(with("decisions:\n  keep: 100001\n"),
            "revived.yaml:5: decisions.keep: must be at most 100000, got 100001");
  EXPECT_EQ(with("decisions: {keep: many}\n"),
            "revived.yaml:4: decisions.keep: expected an integer, got 'many'");
  EXPECT_EQ(with("decisions: {kept: 5}\n"),
            "revived.yaml:4: decisions.kept: unknown field (did you mean keep?)");
  EXPECT_EQ(with("decisions: 5\n"), "revived.yaml:4: decisions: expected a mapping, got '5'");
}

}  // namespace
}  // namespace revive::daemon
