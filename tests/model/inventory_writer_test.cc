#include <gtest/gtest.h>

#include <yaml-cpp/yaml.h>

#include <sstream>

#include "model/generator.h"
#include "model/inventory.h"
#include "support/test_support.h"

namespace revive::model {
namespace {

// A small cloud using every field the writer knows, built by hand.
Cloud small_cloud() {
  Cloud cloud;
  cloud.policy.cpu_overcommit = 4.0;
  cloud.policy.memory_overcommit = 1.5;
  cloud.endpoints.push_back({"mgmt-1", 16});
  cloud.arrays.push_back({"array-a", 8});
  cloud.arrays.push_back({"array-b", 4});
  cloud.switches.push_back({"sw-1", 4});
  Symbol zone = cloud.symbols.intern("zone");
  Symbol rack = cloud.symbols.intern("rack");
  Symbol prod = cloud.symbols.intern("prod");
  Symbol backup = cloud.symbols.intern("backup");
  Symbol license = cloud.symbols.intern("license");

  Host first;
  first.name = "host-01";
  first.cpus = 64;
  first.memory_mib = 524288;
  first.arch = cloud.default_arch();
  first.labels = {{zone, cloud.symbols.intern("z1")}, {rack, cloud.symbols.intern("r1")}};
  first.networks = {prod, backup};
  first.arrays = {0, 1};
  first.endpoint = 0;
  first.network_switch = 0;
  first.uri = "qemu+ssh://host-01/system";
  first.bmc = Bmc{"10.0.0.1", 623, "admin", "/etc/revive/bmc-host-01"};
  cloud.hosts.push_back(first);

  Host second;
  second.name = "host-02";
  second.cpus = 32;
  second.memory_mib = 262144;
  second.arch = cloud.symbols.intern("aarch64");
  second.labels = {{license, cloud.symbols.intern("db")}};
  second.networks = {prod};
  second.arrays = {0};
  second.endpoint = 0;
  second.nic_gbps = 25.5;
  second.reserved = true;
  second.state = HostState::maintenance;
  cloud.hosts.push_back(second);

  Vm db;
  db.name = "db-1";
  db.host = 0;
  db.cpus = 8;
  db.memory_mib = 32768;
  db.priority = Priority::critical;
  db.networks = {prod};
  db.first_disk = 0;
  db.disk_count = 2;
  db.dirty_mib_s = 50;
  db.require_labels = {{license, cloud.symbols.find("db")}};
  db.prefer_labels = {{zone, cloud.symbols.find("z1")}};
  cloud.vms.push_back(db);
  cloud.disks.push_back({"db-1-root", 0, 100, 0});
  cloud.disks.push_back({"db-1-data", 1, 500, 0});

  Vm app;
  app.name = "app-1";
  app.host = 1;
  app.cpus = 2;
  app.memory_mib = 4096;
  app.protect = false;
  app.first_disk = 2;
  app.disk_count = 0;
  app.after = {0};
  cloud.vms.push_back(app);

  cloud.groups.push_back({"db-cluster", GroupKind::anti_affinity, cloud.scope_host(), {0, 1}});
  cloud.groups.push_back({"rack-pair", GroupKind::affinity, rack, {1, 0}});
  cloud.rebuild_indexes();
  return cloud;
}

std::string written(const Cloud& cloud) {
  std::ostringstream out;
  write_inventory(cloud, out);
  return out.str();
}

TEST(InventoryWriter, WritesTheHouseStyle) {
  const std::string expected = R"(version: 1
policy:
  overcommit: {cpu: 4.0, memory: 1.5}
  host_max_parallel_restarts: 32
  host_max_parallel_migrations: 8
endpoints:
- {name: mgmt-1, max_parallel: 16}
arrays:
- {name: array-a, max_parallel: 8}
- {name: array-b, max_parallel: 4}
switches:
- {name: sw-1, max_parallel: 4}
hosts:
- name: host-01
  cpus: 64
  memory_mib: 524288
  labels: {rack: r1, zone: z1}
  networks: [backup, prod]
  arrays: [array-a, array-b]
  endpoint: mgmt-1
  nic_gbps: 10
  switch: sw-1
  uri: "qemu+ssh://host-01/system"
  bmc: {address: 10.0.0.1, port: 623, user: admin, password_file: /etc/revive/bmc-host-01}
- name: host-02
  cpus: 32
  memory_mib: 262144
  arch: aarch64
  labels: {license: db}
  networks: [prod]
  arrays: [array-a]
  endpoint: mgmt-1
  nic_gbps: 25.5
  reserved: true
  state: maintenance
vms:
- name: db-1
  host: host-01
  cpus: 8
  memory_mib: 32768
  priority: critical
  networks: [prod]
  disks:
  - {name: db-1-root, array: array-a, size_gib: 100}
  - {name: db-1-data, array: array-b, size_gib: 500}
  dirty_mib_s: 50
  require_labels: {license: db}
  prefer_labels: {zone: z1}
- name: app-1
  host: host-02
  cpus: 2
  memory_mib: 4096
  priority: medium
  protect: false
  dirty_mib_s: 20
  after: [db-1]
groups:
- name: db-cluster
  kind: anti-affinity
  scope: host
  members: [db-1, app-1]
- name: rack-pair
  kind: affinity
  scope: rack
  members: [app-1, db-1]
)";
  EXPECT_EQ(written(small_cloud()), expected);
}

TEST(InventoryWriter, QuotesWhatCouldBeMisread) {
  Cloud cloud;
  Symbol key = cloud.symbols.intern("note");
  Host host;
  host.name = "host: 1";
  host.cpus = 1;
  host.memory_mib = 1;
  host.labels = {{key, cloud.symbols.intern("null")}};
  host.networks = {cloud.symbols.intern("a\"b\\c"), cloud.symbols.intern("-x"), cloud.symbols.intern("")};
  cloud.hosts.push_back(host);
  cloud.rebuild_indexes();
  const std::string text = written(cloud);
  EXPECT_NE(text.find("- name: \"host: 1\"\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  labels: {note: \"null\"}\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  networks: [\"\", \"-x\", \"a\\\"b\\\\c\"]\n"), std::string::npos) << text;
  // And a YAML reader takes every string back as it was.
  YAML::Node root = YAML::Load(text);
  EXPECT_EQ(root["hosts"][0]["name"].as<std::string>(), "host: 1");
  EXPECT_EQ(root["hosts"][0]["labels"]["note"].as<std::string>(), "null");
  EXPECT_EQ(root["hosts"][0]["networks"][0].as<std::string>(), "");
  EXPECT_EQ(root["hosts"][0]["networks"][1].as<std::string>(), "-x");
  EXPECT_EQ(root["hosts"][0]["networks"][2].as<std::string>(), "a\"b\\c");
}

TEST(InventoryWriter, WritesValidYaml) {
  YAML::Node root = YAML::Load(written(small_cloud()));
  EXPECT_EQ(root["hosts"][0]["uri"].as<std::string>(), "qemu+ssh://host-01/system");
  EXPECT_EQ(root["hosts"][0]["bmc"]["password_file"].as<std::string>(), "/etc/revive/bmc-host-01");
  EXPECT_EQ(root["vms"][0]["disks"][1]["size_gib"].as<int>(), 500);
  EXPECT_EQ(root["groups"][1]["members"][0].as<std::string>(), "app-1");
  EXPECT_DOUBLE_EQ(root["policy"]["overcommit"]["memory"].as<double>(), 1.5);
}

TEST(InventoryWriter, EmptyCloudHasEveryRequiredSection) {
  EXPECT_EQ(written(Cloud{}),
            "version: 1\npolicy:\n  overcommit: {cpu: 1.0, memory: 1.0}\n  host_max_parallel_restarts: 32\n"
            "  host_max_parallel_migrations: 8\nendpoints: []\narrays: []\nhosts: []\nvms: []\n");
}

TEST(InventoryWriter, IsDeterministic) {
  EXPECT_EQ(written(small_cloud()), written(small_cloud()));
}

// write -> load -> write gives the same bytes: the writer says everything the model holds.
void expect_round_trip(const std::string& text, const std::string& name) {
  const Cloud loaded = load_inventory_text(text, name);
  EXPECT_EQ(written(loaded), text) << name;
}

TEST(InventoryWriter, RoundTripsEveryField) {
  expect_round_trip(written(small_cloud()), "small");
}

TEST(InventoryWriter, RoundTripsGeneratedClouds) {
  for (auto [hosts, vms] : {std::pair{4u, 60u}, std::pair{64u, 1600u}, std::pair{500u, 10000u}}) {
    GeneratorOptions options;
    options.hosts = hosts;
    options.vms = vms;
    expect_round_trip(written(generate_cloud(options)), std::to_string(hosts) + " hosts");
  }
}

TEST(InventoryWriter, RoundTripsTheExampleScenarios) {
  for (const char* scenario : {"pod-16", "tight-8"}) {
    const auto path = revive::testing::examples_dir() / scenario / "inventory.yaml";
    const Cloud original = load_inventory_file(path.string());
    const std::string text = written(original);
    expect_round_trip(text, scenario);
    // Same content as the hand-written file: same counts and the same placement.
    const Cloud reloaded = load_inventory_text(text, scenario);
    ASSERT_EQ(reloaded.vms.size(), original.vms.size());
    EXPECT_EQ(reloaded.disks.size(), original.disks.size());
    EXPECT_EQ(reloaded.groups.size(), original.groups.size());
    for (VmIndex v = 0; v < original.vms.size(); ++v) {
      EXPECT_EQ(reloaded.hosts[reloaded.vms[v].host].name, original.hosts[original.vms[v].host].name);
    }
  }
}

}  // namespace
}  // namespace revive::model
