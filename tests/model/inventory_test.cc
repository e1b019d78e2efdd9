#include "model/inventory.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <sstream>

#include "model/cloud_json.h"
#include "model/inventory_error_cases.h"
#include "support/test_support.h"

namespace revive::model {
namespace {

using revive::testing::examples_dir;
using ::testing::HasSubstr;

std::string pod16_path() {
  return (examples_dir() / "pod-16/inventory.yaml").string();
}

// The diagnostics of loading `text`; fails the test when it loads.
std::vector<Diagnostic> diagnostics_of(const std::string& text) {
  try {
    load_inventory_text(text, "test.yaml");
  } catch (const InventoryError& error) {
    return error.diagnostics();
  }
  ADD_FAILURE() << "loaded without error:\n" << text;
  return {};
}

// Every inventory a user finds in examples/: the demo's cloud and those of pod-16/ and tight-8/.
TEST(Inventory, LoadsEveryExampleInventory) {
  std::vector<std::filesystem::path> inventories{examples_dir() / "demo-cloud.yaml"};
  for (const auto& directory : revive::testing::scenario_directories(examples_dir())) {
    inventories.push_back(directory.inventory);
  }
  EXPECT_GE(inventories.size(), 3u);
  for (const auto& path : inventories) {
    SCOPED_TRACE(path.string());
    EXPECT_NO_THROW(load_inventory_file(path.string()));
  }
}

// The project's contract inventories (../shared/scenarios) still load; skipped in a clone without them.
TEST(Inventory, LoadsEverySharedContractInventory) {
  SKIP_UNLESS_SHARED_DIR_PRESENT();
  auto directories = revive::testing::scenario_directories(revive::testing::shared_dir() / "scenarios");
  EXPECT_GE(directories.size(), 2u);
  for (const auto& directory : directories) {
    SCOPED_TRACE(directory.inventory.string());
    EXPECT_NO_THROW(load_inventory_file(directory.inventory.string()));
  }
}

TEST(Inventory, LoadsPod16) {
  Cloud cloud = load_inventory_file(pod16_path());
  EXPECT_EQ(cloud.hosts.size(), 16u);
  EXPECT_EQ(cloud.vms.size(), 461u);
  EXPECT_EQ(cloud.disks.size(), 1579u);
  EXPECT_EQ(cloud.arrays.size(), 2u);
  EXPECT_EQ(cloud.endpoints.size(), 1u);
  EXPECT_EQ(cloud.switches.size(), 4u);
  EXPECT_EQ(cloud.groups.size(), 11u);
  EXPECT_DOUBLE_EQ(cloud.policy.cpu_overcommit, 4.0);
  HostIndex host = cloud.find_host("host-0002");
  ASSERT_NE(host, kNoIndex);
  EXPECT_EQ(cloud.hosts[host].cpus, 128u);
  EXPECT_EQ(cloud.hosts[host].memory_mib, 1048576u);
  EXPECT_EQ(cloud.scope_value(host, cloud.symbols.find("license")), cloud.symbols.find("db"));
  EXPECT_EQ(cloud.hosts[host].network_switch, cloud.find_switch("sw-2"));
  EXPECT_EQ(cloud.vms_on(cloud.find_host("host-0001")).size(), 30u);
  VmIndex vm = cloud.find_vm("vm-000001");
  ASSERT_NE(vm, kNoIndex);
  EXPECT_EQ(cloud.vms[vm].host, cloud.find_host("host-0001"));
  EXPECT_EQ(cloud.vms[vm].priority, Priority::critical);
  EXPECT_EQ(cloud.vms[vm].disk_count, 6u);
  EXPECT_EQ(cloud.vms[vm].dirty_mib_s, 100u);
  EXPECT_EQ(cloud.disks[cloud.find_disk("vm-000001-d3")].size_gib, 100u);
  EXPECT_EQ(cloud.disks[cloud.find_disk("vm-000001-d3")].vm, vm);
  // `after` may name a VM defined further down.
  VmIndex waiting = cloud.find_vm("vm-000039");
  ASSERT_NE(waiting, kNoIndex);
  ASSERT_EQ(cloud.vms[waiting].after.size(), 1u);
  EXPECT_EQ(cloud.vms[waiting].after[0], cloud.find_vm("vm-000186"));
  const Group& group = cloud.groups[cloud.find_group("aa-1")];
  EXPECT_EQ(group.kind, GroupKind::anti_affinity);
  EXPECT_EQ(group.scope, cloud.symbols.find("rack"));
  EXPECT_EQ(group.members.size(), 2u);
}

TEST(Inventory, AppliesDefaults) {
  Cloud cloud = load_inventory_text(
      "version: 1\n"
      "endpoints: [{name: e, max_parallel: 2}]\n"
      "hosts:\n"
      "- {name: h, cpus: 4, memory_mib: 4096, endpoint: e}\n"
      "vms:\n"
      "- {name: v, host: h, cpus: 1, memory_mib: 512}\n",
      "defaults.yaml");
  EXPECT_DOUBLE_EQ(cloud.policy.cpu_overcommit, 1.0);
  EXPECT_DOUBLE_EQ(cloud.policy.memory_overcommit, 1.0);
  EXPECT_EQ(cloud.policy.host_max_parallel_restarts, 32u);
  EXPECT_EQ(cloud.policy.host_max_parallel_migrations, 8u);
  const Host& host = cloud.hosts[0];
  EXPECT_EQ(host.arch, cloud.default_arch());
  EXPECT_EQ(cloud.symbols.name(host.arch), "x86_64");
  EXPECT_DOUBLE_EQ(host.nic_gbps, 10.0);
  EXPECT_EQ(host.state, HostState::up);
  EXPECT_FALSE(host.reserved);
  EXPECT_EQ(host.network_switch, kNoIndex);
  EXPECT_FALSE(host.bmc.has_value());
  const Vm& vm = cloud.vms[0];
  EXPECT_EQ(vm.priority, Priority::medium);
  EXPECT_TRUE(vm.protect);
  EXPECT_EQ(vm.dirty_mib_s, 20u);
  EXPECT_EQ(vm.disk_count, 0u);
  EXPECT_TRUE(vm.after.empty());
}

TEST(Inventory, ReadsEveryFieldAndSortsSets) {
  Cloud cloud = load_inventory_text(
      "version: 1\n"
      "policy: {overcommit: {cpu: 2.5, memory: 1.5}, host_max_parallel_restarts: 4,"
      " host_max_parallel_migrations: 2}\n"
      "endpoints: [{name: e, max_parallel: 2}]\n"
      "arrays: [{name: z-array, max_parallel: 1}, {name: a-array, max_parallel: 3}]\n"
      "switches: [{name: s, max_parallel: 5}]\n"
      "hosts:\n"
      "- name: h\n"
      "  cpus: 16\n"
      "  memory_mib: 65536\n"
      "  arch: ppc64le\n"
      "  labels: {zone: z1, rack: r1}\n"
      "  networks: [storage, prod]\n"
      "  arrays: [a-array, z-array]\n"
      "  endpoint: e\n"
      "  switch: s\n"
      "  nic_gbps: 25.5\n"
      "  reserved: true\n"
      "  state: maintenance\n"
      "  uri: qemu+ssh://h/system\n"
      "  bmc: {address: 10.0.0.1, port: 6230, user: admin, password_file: /etc/revive/bmc-h}\n"
      "vms:\n"
      "- name: v\n"
      "  host: h\n"
      "  cpus: 2\n"
      "  memory_mib: 2048\n"
      "  priority: low\n"
      "  protect: false\n"
      "  networks: [storage, prod]\n"
      "  disks: [{name: v-1, array: z-array, size_gib: 10}, {name: v-2, array: a-array, size_gib: 20}]\n"
      "  require_labels: {zone: z1}\n"
      "  prefer_labels: {rack: r1}\n"
      "  dirty_mib_s: 0\n"
      "- {name: w, host: h, cpus: 1, memory_mib: 1024, after: [v]}\n"
      "groups: [{name: g, kind: affinity, scope: rack, members: [v, w]}]\n",
      "full.yaml");
  EXPECT_DOUBLE_EQ(cloud.policy.cpu_overcommit, 2.5);
  EXPECT_DOUBLE_EQ(cloud.policy.memory_overcommit, 1.5);
  EXPECT_EQ(cloud.policy.host_max_parallel_restarts, 4u);
  EXPECT_EQ(cloud.policy.host_max_parallel_migrations, 2u);
  const Host& host = cloud.hosts[0];
  EXPECT_EQ(cloud.symbols.name(host.arch), "ppc64le");
  ASSERT_EQ(host.labels.size(), 2u);
  EXPECT_LT(host.labels[0].key, host.labels[1].key);
  EXPECT_TRUE(std::is_sorted(host.networks.begin(), host.networks.end()));
  EXPECT_EQ(host.networks.size(), 2u);
  EXPECT_EQ(host.arrays, (std::vector<ArrayIndex>{0, 1}));
  EXPECT_EQ(host.network_switch, 0u);
  EXPECT_DOUBLE_EQ(host.nic_gbps, 25.5);
  EXPECT_TRUE(host.reserved);
  EXPECT_EQ(host.state, HostState::maintenance);
  EXPECT_EQ(host.uri, "qemu+ssh://h/system");
  ASSERT_TRUE(host.bmc.has_value());
  EXPECT_EQ(host.bmc->port, 6230);
  EXPECT_EQ(host.bmc->password_file, "/etc/revive/bmc-h");
  const Vm& vm = cloud.vms[0];
  EXPECT_EQ(vm.priority, Priority::low);
  EXPECT_FALSE(vm.protect);
  EXPECT_EQ(vm.dirty_mib_s, 0u);
  EXPECT_EQ(vm.disk_count, 2u);
  EXPECT_EQ(cloud.disks[vm.first_disk + 1].array, cloud.find_array("a-array"));
  EXPECT_TRUE(cloud.has_label(0, vm.require_labels[0]));
  EXPECT_TRUE(cloud.has_label(0, vm.prefer_labels[0]));
  EXPECT_EQ(cloud.vms[1].after, (std::vector<VmIndex>{0}));
  EXPECT_EQ(cloud.vms[1].groups, (std::vector<GroupIndex>{0}));
  EXPECT_EQ(cloud.groups[0].kind, GroupKind::affinity);
}

TEST(Inventory, AcceptsAnchorsAndEmptySections) {
  Cloud cloud = load_inventory_text(
      "version: 1\n"
      "endpoints: [{name: e, max_parallel: 2}]\n"
      "switches:\n"
      "groups: []\n"
      "hosts:\n"
      "- &shape {name: h1, cpus: 4, memory_mib: 4096, endpoint: e}\n"
      "- {name: h2, cpus: 4, memory_mib: 4096, endpoint: e}\n"
      "vms: []\n",
      "anchors.yaml");
  EXPECT_EQ(cloud.hosts.size(), 2u);
  EXPECT_TRUE(cloud.vms.empty());
}

class InventoryRejects : public ::testing::TestWithParam<revive::testing::InventoryErrorCase> {};

TEST_P(InventoryRejects, WithOneDiagnosticAtLineAndField) {
  const auto& test_case = GetParam();
  auto diagnostics = diagnostics_of(test_case.text);
  ASSERT_EQ(diagnostics.size(), 1u) << InventoryError(diagnostics).what();
  EXPECT_EQ(diagnostics[0].file, "test.yaml");
  EXPECT_EQ(diagnostics[0].line, test_case.line) << diagnostics[0].to_string();
  EXPECT_EQ(diagnostics[0].field, test_case.field) << diagnostics[0].to_string();
  EXPECT_THAT(diagnostics[0].message, HasSubstr(test_case.message)) << diagnostics[0].to_string();
}

INSTANTIATE_TEST_SUITE_P(Malformed, InventoryRejects,
                         ::testing::ValuesIn(revive::testing::inventory_error_cases()),
                         [](const auto& test_info) { return test_info.param.name; });

// The daemon's inventories: VM entries may leave host, cpus and memory_mib to libvirt discovery.
constexpr const char* kPolicyOnlyVms =
    "version: 1\n"                                           // 1
    "endpoints: [{name: e, max_parallel: 2}]\n"              // 2
    "hosts:\n"                                               // 3
    "- {name: h, cpus: 4, memory_mib: 4096, endpoint: e}\n"  // 4
    "vms:\n"                                                 // 5
    "- {name: db, priority: critical, after: [web]}\n"       // 6
    "- {name: web, host: h, cpus: 1}\n"                      // 7
    "groups: [{name: g, kind: affinity, scope: host, members: [db, web]}]\n";

TEST(Inventory, VmPlacementIsRequiredByDefault) {
  auto diagnostics = diagnostics_of(kPolicyOnlyVms);
  std::vector<std::string> found;
  for (const auto& d : diagnostics) found.push_back(d.to_string());
  EXPECT_EQ(found, (std::vector<std::string>{"test.yaml:6: vms[db].host: missing required field",
                                             "test.yaml:6: vms[db].cpus: missing required field",
                                             "test.yaml:6: vms[db].memory_mib: missing required field",
                                             "test.yaml:7: vms[web].memory_mib: missing required field"}));
}

TEST(Inventory, VmPlacementMayComeFromDiscovery) {
  Cloud cloud = load_inventory_text(kPolicyOnlyVms, "daemon.yaml", {.vm_placement_from_discovery = true});
  ASSERT_EQ(cloud.vms.size(), 2u);
  const Vm& db = cloud.vms[cloud.find_vm("db")];
  EXPECT_EQ(db.host, kNoIndex);
  EXPECT_EQ(db.cpus, 0u);
  EXPECT_EQ(db.memory_mib, 0u);
  EXPECT_EQ(db.priority, Priority::critical);
  EXPECT_EQ(db.after, std::vector<VmIndex>{cloud.find_vm("web")});
  const Vm& web = cloud.vms[cloud.find_vm("web")];
  EXPECT_EQ(web.host, cloud.find_host("h"));
  EXPECT_EQ(web.cpus, 1u);
  EXPECT_EQ(web.memory_mib, 0u);
  EXPECT_EQ(cloud.vms_on(cloud.find_host("h")), std::vector<VmIndex>{cloud.find_vm("web")});
  EXPECT_EQ(cloud.groups.size(), 1u);
}

TEST(Inventory, GivenVmPlacementIsStillCheckedWhenDiscoveryMayFillIt) {
  try {
    load_inventory_text(
        "version: 1\n"
        "endpoints: [{name: e, max_parallel: 2}]\n"
        "hosts: [{name: h, cpus: 4, memory_mib: 4096, endpoint: e}]\n"
        "vms:\n"
        "- {name: a, host: nowhere}\n"
        "- {name: b, cpus: 0}\n"
        "- {name: c, cpus: 64, memory_mib: 1024}\n",
        "daemon.yaml", {.vm_placement_from_discovery = true});
    FAIL() << "loaded";
  } catch (const InventoryError& error) {
    EXPECT_EQ(std::string(error.what()),
              "daemon.yaml:5: vms[a].host: unknown host 'nowhere'\n"
              "daemon.yaml:6: vms[b].cpus: must be at least 1, got 0\n"
              "daemon.yaml:7: vms[c].cpus: VM needs 64 cpus, more than any host has after overcommit "
              "(largest: 4)\n");
  }
}

TEST(Inventory, TheValidBaseOfTheMalformedCasesLoads) {
  Cloud cloud = load_inventory_text(revive::testing::valid_inventory(), "test.yaml");
  EXPECT_EQ(cloud.vms.size(), 3u);
}

TEST(Inventory, ReportsEveryErrorOfAFileInLineOrder) {
  auto diagnostics = diagnostics_of(
      "version: 1\n"                                                        // 1
      "policy: {overcommit: {cpu: 0}}\n"                                    // 2
      "endpoints: [{name: e, max_parallel: 2}]\n"                           // 3
      "hosts:\n"                                                            // 4
      "- {name: h, cpus: 4, memory_mib: 4096, endpoint: x}\n"               // 5
      "vms:\n"                                                              // 6
      "- {name: v, host: h, cpus: 1, memory_mib: 0}\n"                      // 7
      "- {name: w, host: nowhere, cpus: 1, memory_mib: 1, after: [w]}\n"    // 8
      "groups: [{name: g, kind: affinity, scope: host, members: [v]}]\n");  // 9
  std::vector<std::pair<int, std::string>> found;
  for (const auto& d : diagnostics) found.emplace_back(d.line, d.field);
  EXPECT_EQ(found, (std::vector<std::pair<int, std::string>>{{2, "policy.overcommit.cpu"},
                                                             {5, "hosts[h].endpoint"},
                                                             {7, "vms[v].memory_mib"},
                                                             {8, "vms[w].host"},
                                                             {8, "vms[w].after[0]"},
                                                             {9, "groups[g].members"}}))
      << InventoryError(diagnostics).what();
}

TEST(Inventory, ErrorTextIsFileLineFieldMessage) {
  try {
    load_inventory_text(revive::testing::replace_line(14, "  cpus: 0"), "pod.yaml");
    FAIL() << "loaded";
  } catch (const InventoryError& error) {
    EXPECT_EQ(std::string(error.what()), "pod.yaml:14: hosts[host-01].cpus: must be at least 1, got 0\n");
  }
}

TEST(Inventory, UnreadableFileIsOneDiagnostic) {
  try {
    load_inventory_file("/nonexistent/inventory.yaml");
    FAIL() << "loaded";
  } catch (const InventoryError& error) {
    ASSERT_EQ(error.diagnostics().size(), 1u);
    EXPECT_EQ(error.diagnostics()[0].field, "file");
  }
}

TEST(Inventory, FindsALongCycleAmongManyVms) {
  std::ostringstream text;
  text << "version: 1\nendpoints: [{name: e, max_parallel: 2}]\n"
          "hosts: [{name: h, cpus: 64, memory_mib: 65536, endpoint: e}]\nvms:\n";
  constexpr int kVms = 2000;
  for (int i = 0; i < kVms; ++i) {
    text << "- {name: v" << i << ", host: h, cpus: 1, memory_mib: 1, after: [v" << (i + 1) % kVms << "]}\n";
  }
  auto diagnostics = diagnostics_of(text.str());
  ASSERT_EQ(diagnostics.size(), 1u);
  EXPECT_THAT(diagnostics[0].message, HasSubstr("`after` cycle: v0 -> v1 -> v2"));
  EXPECT_THAT(diagnostics[0].message, HasSubstr("v1999 -> v0"));
  EXPECT_EQ(diagnostics[0].field, "vms[v1999].after[0]");
}

// Deterministic corruptions of a valid inventory (lines deleted, duplicated, swapped, cut short, characters
// changed): each must load or be rejected with diagnostics inside the file, never crash or loop.
TEST(Inventory, SurvivesCorruptedInventories) {
  const auto& lines = revive::testing::valid_inventory_lines();
  std::mt19937 random(7);
  auto pick = [&](std::size_t bound) { return static_cast<std::size_t>(random() % bound); };
  int rejected = 0;
  for (int round = 0; round < 1500; ++round) {
    std::vector<std::string> mutated = lines;
    for (int edit = 0, edits = 1 + static_cast<int>(pick(3)); edit < edits; ++edit) {
      std::size_t at = pick(mutated.size());
      switch (pick(5)) {
        case 0:
          mutated.erase(mutated.begin() + static_cast<long>(at));
          break;
        case 1:
          mutated.insert(mutated.begin() + static_cast<long>(at), mutated[pick(mutated.size())]);
          break;
        case 2:
          std::swap(mutated[at], mutated[pick(mutated.size())]);
          break;
        case 3:
          mutated.resize(at + 1);
          break;
        default:
          if (!mutated[at].empty())
            mutated[at][pick(mutated[at].size())] = std::string_view(":-[]{}, x0\\")[pick(11)];
          break;
      }
      if (mutated.empty()) mutated.push_back("");
    }
    std::string text = revive::testing::join_lines(mutated);
    try {
      load_inventory_text(text, "fuzz.yaml");
    } catch (const InventoryError& error) {
      ++rejected;
      ASSERT_FALSE(error.diagnostics().empty());
      for (const auto& d : error.diagnostics()) {
        ASSERT_GE(d.line, 1) << d.to_string() << "\n" << text;
        ASSERT_LE(d.line, static_cast<int>(mutated.size()) + 1) << d.to_string() << "\n" << text;
        ASSERT_FALSE(d.field.empty()) << d.to_string();
        ASSERT_FALSE(d.message.empty()) << d.to_string();
      }
    }
  }
  EXPECT_GT(rejected, 1000);
}

TEST(Inventory, WrittenInventoryReadsBackEqual) {
  Cloud cloud = load_inventory_file(pod16_path());
  std::ostringstream written;
  write_inventory(cloud, written);
  Cloud again = load_inventory_text(written.str(), "written.yaml");
  auto difference = nlohmann::json::diff(to_json(cloud), to_json(again));
  EXPECT_TRUE(difference.empty()) << difference.dump().substr(0, 2000);
}

TEST(CloudJson, ExportsHostsWithUsedAndFreeCapacity) {
  Cloud cloud = load_inventory_file(pod16_path());
  auto json = to_json(cloud);
  EXPECT_EQ(json["version"], 1);
  ASSERT_EQ(json["hosts"].size(), 16u);
  ASSERT_EQ(json["vms"].size(), 461u);
  const auto& host = json["hosts"][0];
  EXPECT_EQ(host["name"], "host-0001");
  EXPECT_EQ(host["vm_count"], 30);
  EXPECT_EQ(host["used"]["cpus"], 162);
  EXPECT_EQ(host["used"]["memory_mib"], 581632);
  EXPECT_DOUBLE_EQ(host["usable"]["cpus"].get<double>(), 512.0);
  EXPECT_DOUBLE_EQ(host["free"]["cpus"].get<double>(), 512.0 - 162);
  EXPECT_DOUBLE_EQ(host["free"]["memory_mib"].get<double>(), 1048576.0 - 581632);
  EXPECT_EQ(host["switch"], "sw-1");
  EXPECT_EQ(host["labels"]["rack"], "r1");
  EXPECT_EQ(json["vms"][0]["disks"].size(), 6u);
  EXPECT_EQ(json["vms"][0]["priority"], "critical");
  EXPECT_EQ(json["policy"]["overcommit"]["cpu"], 4.0);
  EXPECT_EQ(json["groups"][0]["kind"], "anti-affinity");
}

}  // namespace
}  // namespace revive::model
