// Scenario files: the spec's format read strictly, errors as FILE:LINE: field: message.
#include <gtest/gtest.h>

#include <filesystem>

#include "model/inventory.h"
#include "sim/scenario.h"
#include "support/test_support.h"

namespace revive::sim {
namespace {

using revive::testing::examples_dir;

const model::Cloud& pod16() {
  static const model::Cloud cloud =
      model::load_inventory_file((examples_dir() / "pod-16/inventory.yaml").string());
  return cloud;
}

std::string errors_of(const std::string& text) {
  try {
    load_scenario_text(text, "scn.yaml", pod16());
  } catch (const ScenarioError& e) {
    return e.what();
  }
  return "";
}

TEST(Scenario, LoadsThePod16Scenario) {
  auto scenario = load_scenario_file((examples_dir() / "pod-16/scenario.yaml").string(), pod16());
  EXPECT_EQ(scenario.seed, 7u);
  ASSERT_TRUE(scenario.latency.detect.has_value());
  EXPECT_DOUBLE_EQ(scenario.latency.detect->median_s, 5.0);
  EXPECT_TRUE(scenario.latency.detect->is_fixed());
  EXPECT_DOUBLE_EQ(scenario.latency.vm_start.median_s, 60.0);
  EXPECT_DOUBLE_EQ(scenario.latency.vm_start.spread, 0.4);
  ASSERT_EQ(scenario.events.size(), 1u);
  EXPECT_EQ(scenario.events[0].kind, ScenarioEvent::Kind::fail);
  EXPECT_EQ(scenario.events[0].hosts,
            (std::vector<model::HostIndex>{pod16().find_host("host-0006"), pod16().find_host("host-0015")}));
}

TEST(Scenario, ReadsEveryEventKindOfTheSpec) {
  auto scenario = load_scenario_text(R"(version: 1
seed: 42
latency:
  detect: 5
  fence: {median: 8, spread: 0.2}
heartbeat: {interval_ms: 500, loss: 0.01, jitter_ms: 20}
migration: {setup_s: 2, downtime_ms: 300}
events:
  - {at: 200, fail: [host-0007]}
  - {at: 0, fail: [host-0001, host-0002]}
  - {at: 0, evacuate: host-0005, deadline: 900, reason: maintenance}
  - {at: 30, fail_step: {vm: vm-000001, step: vm_start, times: 2}}
  - {at: 31, fail_step: {vm: vm-000001, step: disk_map, disk: vm-000001-d0}}
  - {at: 32, fail_step: {host: host-0001, step: fence}}
  - {at: 40, slow_step: {array: array-1, factor: 3, until: 200}}
  - {at: 100, isolate: [host-0003]}
)",
                                     "scn.yaml", pod16());
  EXPECT_EQ(scenario.seed, 42u);
  EXPECT_DOUBLE_EQ(scenario.heartbeat.interval_ms, 500.0);
  ASSERT_EQ(scenario.events.size(), 8u);
  // Sorted by time, file order among equal times.
  EXPECT_EQ(scenario.events[0].kind, ScenarioEvent::Kind::fail);
  EXPECT_EQ(scenario.events[0].hosts.size(), 2u);
  EXPECT_EQ(scenario.events[1].kind, ScenarioEvent::Kind::evacuate);
  EXPECT_DOUBLE_EQ(scenario.events[1].deadline_s, 900.0);
  EXPECT_EQ(scenario.events[2].kind, ScenarioEvent::Kind::fail_step);
  EXPECT_EQ(scenario.events[2].times, 2u);
  EXPECT_EQ(scenario.events[3].disk, pod16().find_disk("vm-000001-d0"));
  EXPECT_EQ(scenario.events[4].step, env::StepKind::fence);
  EXPECT_EQ(scenario.events[5].kind, ScenarioEvent::Kind::slow_step);
  EXPECT_EQ(scenario.events[5].resource, pod16().find_array("array-1"));
  EXPECT_DOUBLE_EQ(scenario.events[5].factor, 3.0);
  EXPECT_DOUBLE_EQ(scenario.events[5].until_s, 200.0);
  EXPECT_EQ(scenario.events[6].kind, ScenarioEvent::Kind::isolate);
  EXPECT_EQ(scenario.events[7].kind, ScenarioEvent::Kind::fail);
  EXPECT_DOUBLE_EQ(scenario.events[7].at_s, 200.0);
}

TEST(Scenario, ReportsEveryErrorWithFileLineAndField) {
  auto errors = errors_of(R"(version: 1
seed: 1
latency:
  vm_start: {median: -1, spread: 0.4}
  bogus: 3
events:
  - {at: 0, fail: [host-9999]}
  - {at: 5, fail_step: {vm: vm-000001, step: vm_boot}}
  - {at: 6}
  - {at: 7, slow_step: {array: array-9, factor: 0}}
  - {at: 8, isolate: [host-0001], deadline: 3}
  - {at: 9, vm_crash: vm-999999}
  - {at: 10, confirm_down: [host-0001, host-0001]}
  - {at: 11, fencing: off}
)");
  EXPECT_NE(errors.find("scn.yaml:4: latency.vm_start.median: must be >= 0"), std::string::npos) << errors;
  EXPECT_NE(errors.find("scn.yaml:5: latency.bogus: unknown field"), std::string::npos) << errors;
  EXPECT_NE(errors.find("scn.yaml:7: events[0].fail[0]: unknown host \"host-9999\""), std::string::npos)
      << errors;
  EXPECT_NE(errors.find("scn.yaml:8: events[1].fail_step.step: unknown step \"vm_boot\""), std::string::npos)
      << errors;
  EXPECT_NE(errors.find("scn.yaml:9: events[2]: needs exactly one of"), std::string::npos) << errors;
  EXPECT_NE(errors.find("scn.yaml:10: events[3].slow_step.array: unknown array \"array-9\""),
            std::string::npos)
      << errors;
  EXPECT_NE(errors.find("scn.yaml:10: events[3].slow_step.factor: must be > 0"), std::string::npos) << errors;
  EXPECT_NE(errors.find("scn.yaml:11: events[4].deadline: only allowed with evacuate"), std::string::npos)
      << errors;
  EXPECT_NE(errors.find("scn.yaml:12: events[5].vm_crash: unknown VM \"vm-999999\""), std::string::npos)
      << errors;
  EXPECT_NE(errors.find("scn.yaml:13: events[6].confirm_down[1]: host \"host-0001\" listed twice"),
            std::string::npos)
      << errors;
  EXPECT_NE(
      errors.find("needs exactly one of fail, isolate, evacuate, fail_step, slow_step, exit_maintenance, "
                  "cancel, restart_controller, vm_crash, confirm_down or fencing"),
      std::string::npos)
      << errors;
}

TEST(Scenario, RejectsWrongVersionBadYamlAndMissingFile) {
  EXPECT_NE(errors_of("version: 2\n").find("scn.yaml:1: version: must be 1"), std::string::npos);
  EXPECT_NE(errors_of("version: 1\nevents: [\n").find("scn.yaml:"), std::string::npos);
  EXPECT_NE(
      errors_of("version: 1\nevents:\n  - {at: 0, fail: [host-0001, host-0001]}\n").find("listed twice"),
      std::string::npos);
  EXPECT_THROW(load_scenario_file("/nonexistent/scn.yaml", pod16()), ScenarioError);
}

TEST(Scenario, DefaultsWhenFieldsAreLeftOut) {
  auto scenario = load_scenario_text("version: 1\n", "scn.yaml", pod16());
  EXPECT_FALSE(scenario.latency.detect.has_value());
  EXPECT_DOUBLE_EQ(scenario.latency.disk_map.median_s, 4.0);
  EXPECT_DOUBLE_EQ(scenario.heartbeat.interval_ms, 1000.0);
  EXPECT_TRUE(scenario.events.empty());
}

void expect_every_scenario_loads(const std::filesystem::path& directory) {
  auto directories = revive::testing::scenario_directories(directory);
  EXPECT_GE(directories.size(), 2u);
  for (const auto& scenario_directory : directories) {
    auto cloud = model::load_inventory_file(scenario_directory.inventory.string());
    EXPECT_FALSE(scenario_directory.scenarios.empty()) << scenario_directory.inventory;
    for (const auto& scenario : scenario_directory.scenarios) {
      SCOPED_TRACE(scenario.string());
      EXPECT_NO_THROW(load_scenario_file(scenario.string(), cloud));
    }
  }
}

// Every scenario a user finds in examples/ (pod-16/, tight-8/) loads against the inventory beside it, and so
// does the demo's.
TEST(Scenario, LoadsEveryExampleScenario) {
  expect_every_scenario_loads(examples_dir());
  auto demo_cloud = model::load_inventory_file((examples_dir() / "demo-cloud.yaml").string());
  EXPECT_NO_THROW(load_scenario_file((examples_dir() / "demo-scenario.yaml").string(), demo_cloud));
}

// The project's contract scenarios (../shared/scenarios) still load; skipped in a clone without them.
TEST(Scenario, LoadsEverySharedContractScenario) {
  SKIP_UNLESS_SHARED_DIR_PRESENT();
  expect_every_scenario_loads(revive::testing::shared_dir() / "scenarios");
}

}  // namespace
}  // namespace revive::sim
