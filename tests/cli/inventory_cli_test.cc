// `revive inventory validate|show` through the built binary, as a user runs it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "model/inventory_error_cases.h"
#include "support/test_support.h"

namespace revive::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string pod16() {
  return (examples_dir() / "pod-16/inventory.yaml").string();
}

void expect_valid(const std::filesystem::path& path) {
  auto result = run_cli({"inventory", "validate", path.string()});
  EXPECT_EQ(result.exit_status, 0) << path << "\n" << result.err;
  EXPECT_THAT(result.out, StartsWith(path.string() + ": ok: ")) << result.out;
  EXPECT_EQ(result.err, "");
}

// Every inventory a user finds in examples/: the demo's cloud and those of pod-16/ and tight-8/.
TEST(InventoryValidate, AcceptsEveryExampleInventory) {
  expect_valid(examples_dir() / "demo-cloud.yaml");
  auto directories = scenario_directories(examples_dir());
  EXPECT_GE(directories.size(), 2u);
  for (const auto& directory : directories) expect_valid(directory.inventory);
}

// The project's contract inventories (../shared/scenarios) still validate; skipped in a clone without them.
TEST(InventoryValidate, AcceptsEverySharedContractInventory) {
  SKIP_UNLESS_SHARED_DIR_PRESENT();
  auto directories = scenario_directories(shared_dir() / "scenarios");
  EXPECT_GE(directories.size(), 2u);
  for (const auto& directory : directories) expect_valid(directory.inventory);
}

TEST(InventoryValidate, SummarisesPod16OnOneLine) {
  auto result = run_cli({"inventory", "validate", pod16()});
  EXPECT_EQ(result.exit_status, 0) << result.err;
  EXPECT_EQ(result.out,
            pod16() + ": ok: 16 hosts, 461 VMs, 1579 disks, 2 arrays, 1 endpoint, 4 switches, 11 groups\n");
}

class InventoryValidateRejects : public ::testing::TestWithParam<InventoryErrorCase> {};

TEST_P(InventoryValidateRejects, WithExitStatus2AndFileLineField) {
  const auto& test_case = GetParam();
  TempDir directory;
  auto path = directory.write("inventory.yaml", test_case.text).string();
  auto result = run_cli({"inventory", "validate", path});
  EXPECT_EQ(result.exit_status, 2) << result.err;
  EXPECT_EQ(result.out, "");
  std::string prefix = path + ":" + std::to_string(test_case.line) + ": " + test_case.field + ": ";
  EXPECT_THAT(result.err, StartsWith(prefix)) << result.err;
  EXPECT_THAT(result.err, HasSubstr(test_case.message)) << result.err;
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
}

INSTANTIATE_TEST_SUITE_P(Malformed, InventoryValidateRejects, ::testing::ValuesIn(inventory_error_cases()),
                         [](const auto& test_info) { return test_info.param.name; });

TEST(InventoryValidate, ReportsEveryErrorOfAFile) {
  TempDir directory;
  auto path = directory
                  .write("broken.yaml",
                         "version: 2\n"                                                          // 1
                         "endpoints: [{name: e, max_parallel: 2}]\n"                             // 2
                         "arrays: [{name: a, max_parallel: 0}]\n"                                // 3
                         "hosts:\n"                                                              // 4
                         "- {name: h, cpus: 4, memory_mib: 4096, endpoint: e, state: gone}\n"    // 5
                         "vms:\n"                                                                // 6
                         "- {name: v, host: h, cpus: 1, memory_mib: 8192}\n"                     // 7
                         "- {name: w, host: h, cpus: 1, memory_mib: 1, priority: top}\n"         // 8
                         "groups: [{name: g, kind: affinity, scope: host, members: [v, x]}]\n")  // 9
                  .string();
  auto result = run_cli({"inventory", "validate", path});
  EXPECT_EQ(result.exit_status, 2);
  EXPECT_EQ(result.err,
            path + ":1: version: unsupported version 2 (this Revive reads version 1)\n" + path +
                ":3: arrays[a].max_parallel: must be at least 1, got 0\n" + path +
                ":5: hosts[h].state: expected up, maintenance or down, got 'gone'\n" + path +
                ":7: vms[v].memory_mib: VM needs 8192 MiB with 1 cpus; no host has that much after "
                "overcommit (largest memory on such a host: 4096 MiB)\n" +
                path + ":8: vms[w].priority: expected critical, high, medium or low, got 'top'\n" + path +
                ":9: groups[g].members[1]: unknown VM 'x'\n");
}

TEST(InventoryValidate, RejectsAMissingFile) {
  auto result = run_cli({"inventory", "validate", "/nonexistent/inventory.yaml"});
  EXPECT_EQ(result.exit_status, 2);
  EXPECT_THAT(result.err, StartsWith("/nonexistent/inventory.yaml:0: file: cannot read"));
}

TEST(InventoryShow, TableShowsCapacityPrioritiesAndGroups) {
  auto result = run_cli({"inventory", "show", pod16()});
  ASSERT_EQ(result.exit_status, 0) << result.err;
  // host-0001 carries 30 VMs using 162 vCPU of 512 (128 x 4.0) and 568 GiB of 1024.
  EXPECT_THAT(result.out, HasSubstr("hosts (16)"));
  EXPECT_THAT(result.out, ::testing::ContainsRegex("host-0001 +162/512 +350 +568.0 +456.0 +30 up +rack=r1"));
  EXPECT_THAT(result.out,
              ::testing::ContainsRegex("host-0002 .* license=db,rack=r2|host-0002 .* rack=r2,license=db"));
  EXPECT_THAT(result.out, HasSubstr("VMs (461) by priority"));
  EXPECT_THAT(result.out, ::testing::ContainsRegex("critical +52\n"));
  EXPECT_THAT(result.out, ::testing::ContainsRegex("high +97\n"));
  EXPECT_THAT(result.out, ::testing::ContainsRegex("medium +172\n"));
  EXPECT_THAT(result.out, ::testing::ContainsRegex("low +140\n"));
  EXPECT_THAT(result.out, HasSubstr("groups (11)"));
  EXPECT_THAT(result.out, ::testing::ContainsRegex("aa-1 +anti-affinity +rack +vm-000329,vm-000133"));
}

TEST(InventoryShow, JsonExportsTheModelWithUsedCapacity) {
  auto result = run_cli({"inventory", "show", pod16(), "--format", "json"});
  ASSERT_EQ(result.exit_status, 0) << result.err;
  auto json = nlohmann::json::parse(result.out);
  ASSERT_EQ(json["hosts"].size(), 16u);
  EXPECT_EQ(json["vms"].size(), 461u);
  EXPECT_EQ(json["groups"].size(), 11u);
  EXPECT_EQ(json["hosts"][0]["name"], "host-0001");
  EXPECT_EQ(json["hosts"][0]["used"]["cpus"], 162);
  EXPECT_EQ(json["hosts"][0]["used"]["memory_mib"], 581632);
  EXPECT_EQ(json["hosts"][0]["vm_count"], 30);
}

TEST(InventoryShow, RejectsABadInventoryAndABadFormat) {
  TempDir directory;
  auto path = directory.write("bad.yaml", replace_line(14, "  cpus: many")).string();
  auto bad_file = run_cli({"inventory", "show", path});
  EXPECT_EQ(bad_file.exit_status, 2);
  EXPECT_THAT(bad_file.err, StartsWith(path + ":14: hosts[host-01].cpus: "));
  auto bad_format = run_cli({"inventory", "show", pod16(), "--format", "xml"});
  EXPECT_EQ(bad_format.exit_status, 2);
}

// The current placement breaking a rule is accepted (the planner takes the cloud as it is) but warned about:
// exit 0, the summary on stdout, one line per broken rule on stderr naming the file, line, VM and rule.
TEST(InventoryValidate, WarnsAboutACurrentPlacementThatBreaksAGroupARequiredLabelOrUsesASpare) {
  TempDir dir;
  auto inventory =
      dir.write("broken-placement.yaml",
                "version: 1\n"                                                                           // 1
                "endpoints: [{name: e, max_parallel: 4}]\n"                                              // 2
                "hosts:\n"                                                                               // 3
                "- {name: h1, cpus: 16, memory_mib: 65536, endpoint: e, labels: {rack: r1}}\n"           // 4
                "- {name: h2, cpus: 16, memory_mib: 65536, endpoint: e, labels: {rack: r2}}\n"           // 5
                "- {name: spare, cpus: 16, memory_mib: 65536, endpoint: e, reserved: true}\n"            // 6
                "vms:\n"                                                                                 // 7
                "- {name: db-1, host: h1, cpus: 2, memory_mib: 1024}\n"                                  // 8
                "- {name: db-2, host: h1, cpus: 2, memory_mib: 1024}\n"                                  // 9
                "- {name: app, host: h1, cpus: 2, memory_mib: 1024}\n"                                   // 10
                "- {name: cache, host: h2, cpus: 2, memory_mib: 1024}\n"                                 // 11
                "- {name: licensed, host: h2, cpus: 2, memory_mib: 1024, require_labels: {rack: r1}}\n"  // 12
                "- {name: parked, host: spare, cpus: 2, memory_mib: 1024}\n"                             // 13
                "groups:\n"                                                                              // 14
                "- {name: db-apart, kind: anti-affinity, scope: host, members: [db-1, db-2]}\n"          // 15
                "- {name: app-pair, kind: affinity, scope: rack, members: [app, cache]}\n");             // 16
  auto result = run_cli({"inventory", "validate", inventory.string()});
  ASSERT_EQ(result.exit_status, 0) << result.err;
  EXPECT_THAT(result.out, StartsWith(inventory.string() + ": ok with 4 warnings on stderr: 3 hosts, 6 VMs"))
      << result.out;
  const std::string file = inventory.string();
  EXPECT_THAT(result.err, HasSubstr(file + ":12: vms[licensed].require_labels: warning: runs on h2, which "
                                           "lacks the required label rack=r1\n"));
  EXPECT_THAT(result.err,
              HasSubstr(file + ":13: vms[parked].host: warning: runs on spare, a reserved (spare) "
                               "host"));
  EXPECT_THAT(result.err,
              HasSubstr(file + ":15: groups[db-apart]: warning: anti-affinity group broken by the "
                               "current placement: db-1 on h1 and db-2 on h1 (same host)\n"));
  EXPECT_THAT(result.err, HasSubstr(file + ":16: groups[app-pair]: warning: affinity group broken by the "
                                           "current placement: app on h1 (rack r1) and cache on h2 (rack r2) "
                                           "(not the same rack)\n"));
  // Sorted by line, one per broken rule.
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 4) << result.err;
  EXPECT_LT(result.err.find(":12:"), result.err.find(":16:"));
}

// A placement that keeps every rule gets no warning, and VMs of a down host are not looked at.
TEST(InventoryValidate, NoWarningWhenThePlacementKeepsEveryRule) {
  TempDir dir;
  auto inventory = dir.write("fine.yaml",
                             "version: 1\n"
                             "endpoints: [{name: e, max_parallel: 4}]\n"
                             "hosts:\n"
                             "- {name: h1, cpus: 16, memory_mib: 65536, endpoint: e, labels: {rack: r1}}\n"
                             "- {name: h2, cpus: 16, memory_mib: 65536, endpoint: e, labels: {rack: r1}}\n"
                             "- {name: h3, cpus: 16, memory_mib: 65536, endpoint: e, state: down}\n"
                             "vms:\n"
                             "- {name: a, host: h1, cpus: 2, memory_mib: 1024, require_labels: {rack: r1}}\n"
                             "- {name: b, host: h2, cpus: 2, memory_mib: 1024}\n"
                             "- {name: c, host: h3, cpus: 2, memory_mib: 1024}\n"
                             "groups:\n"
                             "- {name: apart, kind: anti-affinity, scope: host, members: [a, b]}\n"
                             "- {name: together, kind: affinity, scope: rack, members: [a, b, c]}\n");
  expect_valid(inventory);
}

}  // namespace
}  // namespace revive::testing
