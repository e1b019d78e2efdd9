// What `revive simulate` and `revive evacuate` say became of each VM that does not run at the end (the
// summary's `not_running`: waiting, failed or held, with reasons; lost only when a placement existed and no
// proof was missing), and the operator's maintenance exit, fail-back and cancel as scenario events and
// `revive evacuate` options.
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace revive::testing {
namespace {

std::string tight8_inventory() {
  return (examples_dir() / "tight-8" / "inventory.yaml").string();
}

TEST(OutcomesCli, VmsWaitingForAFenceThatNeverSucceedsAreListedAndNotLost) {
  TempDir dir;
  auto scenario = dir.write("no-fence.yaml",
                            "version: 1\nseed: 3\nlatency: {detect: 5}\nevents:\n"
                            "- {at: 0, fail: host-0001}\n"
                            "- {at: 0, fail_step: {host: host-0001, step: fence, times: 1000}}\n");
  auto run = run_cli({"simulate", "--inventory", tight8_inventory(), "--scenario", scenario.string()});
  EXPECT_EQ(run.exit_status, 3) << run.err;
  auto summary = nlohmann::json::parse(run.out);
  EXPECT_EQ(summary["restarted"], 0);
  EXPECT_EQ(summary["lost"], 0) << "a VM waiting for a proof is not lost";
  ASSERT_TRUE(summary["not_running"].is_array());
  EXPECT_EQ(summary["not_running"].size(), summary["waiting"].get<std::size_t>());
  std::size_t for_proof = 0;
  for (const auto& vm : summary["not_running"]) {
    EXPECT_EQ(vm["state"], "waiting") << vm.dump();
    EXPECT_FALSE(vm["lost"].get<bool>()) << vm.dump();
    EXPECT_FALSE(vm["reason"].get<std::string>().empty()) << vm.dump();
    if (!vm["waiting_for_proof"].get<bool>()) continue;
    ++for_proof;
    EXPECT_NE(vm["reason"].get<std::string>().find("host-0001 could not be fenced"), std::string::npos)
        << vm.dump();
  }
  // All but one VM of host-0001 had a placement: they wait for the proof only. The last one (16 vCPU,
  // 64 GiB) fits nowhere and says so.
  EXPECT_EQ(for_proof + 1, summary["not_running"].size()) << summary["not_running"].dump(1);

  auto table = run_cli(
      {"simulate", "--inventory", tight8_inventory(), "--scenario", scenario.string(), "--format", "table"});
  EXPECT_NE(table.out.find("not running:\n  vm-000001 (low, waiting): host host-0001 could not be fenced"),
            std::string::npos)
      << table.out;
  EXPECT_EQ(table.out.find("LOST"), std::string::npos) << table.out;
}

TEST(OutcomesCli, VmsHeldByTheStormGuardAreListedAsHeld) {
  TempDir dir;
  auto scenario = dir.write("storm.yaml",
                            "version: 1\nseed: 3\nevents:\n"
                            "- {at: 0, fail: [host-0001, host-0002, host-0003, host-0004, host-0005]}\n");
  auto run = run_cli({"simulate", "--inventory", tight8_inventory(), "--scenario", scenario.string()});
  EXPECT_EQ(run.exit_status, 5) << run.err;
  auto summary = nlohmann::json::parse(run.out);
  std::size_t held_in_hosts = 0;
  for (const auto& host : summary["hosts"]) held_in_hosts += host["vms_held"].get<std::size_t>();
  ASSERT_GT(held_in_hosts, 0u);
  std::size_t held = 0;
  for (const auto& vm : summary["not_running"]) {
    if (vm["state"] != "held") continue;
    ++held;
    EXPECT_FALSE(vm["lost"].get<bool>());
    EXPECT_NE(vm["reason"].get<std::string>().find("held back: storm guard"), std::string::npos) << vm.dump();
  }
  EXPECT_EQ(held, held_in_hosts);
}

nlohmann::json evacuate(const std::vector<std::string>& extra, int expected_status) {
  std::vector<std::string> arguments = {
      "evacuate",   "--inventory", tight8_inventory(), "--host", "host-0002",
      "--deadline", "900",         "--simulate",       "--out",  ""};
  TempDir dir;
  arguments.back() = dir.path().string();
  arguments.insert(arguments.end(), extra.begin(), extra.end());
  auto run = run_cli(arguments);
  EXPECT_EQ(run.exit_status, expected_status) << run.err;
  auto summary = nlohmann::json::parse(run.out);
  summary["timeline"] = nlohmann::json::parse(read_file(dir.path() / "timeline.json"))["steps"];
  return summary;
}

std::size_t migrations_onto(const nlohmann::json& summary, const std::string& host) {
  std::size_t count = 0;
  for (const auto& step : summary["timeline"]) count += step["step"] == "migrate" && step["host"] == host;
  return count;
}

TEST(OutcomesCli, LeavingMaintenanceEarlyCancelsTheMovesNotBegunAndIsNoMissedDeadline) {
  // Without the exit, one VM fits nowhere and still runs on host-0002 at the deadline (exit 6).
  auto full = evacuate({}, 6);
  EXPECT_EQ(full["evacuation"]["running_at_deadline"], 1);
  EXPECT_EQ(full["evacuation"]["cancelled"], 0);

  auto early = evacuate({"--exit-maintenance-at", "30"}, 0);
  const auto& evacuation = early["evacuation"];
  EXPECT_EQ(evacuation["running_at_deadline"], 0) << evacuation.dump();
  EXPECT_GT(evacuation["migrated"].get<int>(), 0);
  EXPECT_GT(evacuation["cancelled"].get<int>(), 0);
  EXPECT_LT(evacuation["migrated"].get<int>(), full["evacuation"]["migrated"].get<int>());
  std::size_t cancelled = 0;
  for (const auto& vm : evacuation["reported"]) {
    if (vm["outcome"] != "cancelled") continue;
    ++cancelled;
    EXPECT_EQ(vm["from"], "host-0002");
    EXPECT_FALSE(vm["reason"].get<std::string>().empty());
  }
  EXPECT_EQ(cancelled, evacuation["cancelled"].get<std::size_t>());
  // Nothing goes back without --fail-back.
  EXPECT_EQ(migrations_onto(early, "host-0002"), 0u);
}

TEST(OutcomesCli, FailBackMovesEveryVmThatLeftBackHome) {
  auto summary = evacuate({"--exit-maintenance-at", "600", "--fail-back"}, 0);
  auto migrated = summary["evacuation"]["migrated"].get<std::size_t>();
  ASSERT_GT(migrated, 0u);
  EXPECT_EQ(migrations_onto(summary, "host-0002"), migrated) << summary["timeline"].dump(1);
  for (const auto& step : summary["timeline"]) {
    if (step["step"] == "migrate" && step["host"] == "host-0002") {
      EXPECT_GE(step["start_s"].get<double>(), 600.0) << step.dump();
    }
  }
}

TEST(OutcomesCli, CancellingAnEvacuationKeepsTheVmsNotYetMovedWhereTheyRun) {
  auto summary = evacuate({"--cancel-at", "30"}, 0);
  EXPECT_GT(summary["evacuation"]["cancelled"].get<int>(), 0);
  EXPECT_EQ(summary["evacuation"]["running_at_deadline"], 0);
  EXPECT_EQ(summary["double_runs"], 0);
}

TEST(OutcomesCli, OperatorEventsAreCheckedWhenTheScenarioIsLoaded) {
  TempDir dir;
  auto scenario = dir.write("bad.yaml",
                            "version: 1\nevents:\n"
                            "- {at: 0, evacuate: host-0002, deadline: 900}\n"
                            "- {at: 10, fail: host-0003, fail_back: true}\n"
                            "- {at: 20, exit_maintenance: host-0002, fail_back: sometimes}\n"
                            "- {at: 30, cancel: host-9999}\n");
  auto run = run_cli({"simulate", "--inventory", tight8_inventory(), "--scenario", scenario.string()});
  EXPECT_EQ(run.exit_status, 2);
  EXPECT_NE(run.err.find("bad.yaml:4: events[1].fail_back: only allowed with exit_maintenance"),
            std::string::npos)
      << run.err;
  EXPECT_NE(run.err.find("bad.yaml:5: events[2].fail_back: must be true or false"), std::string::npos)
      << run.err;
  EXPECT_NE(run.err.find("bad.yaml:6: events[3].cancel"), std::string::npos) << run.err;
  EXPECT_EQ(run.out, "");

  auto option = run_cli({"evacuate", "--inventory", tight8_inventory(), "--host", "host-0002", "--deadline",
                         "900", "--simulate", "--fail-back"});
  EXPECT_EQ(option.exit_status, 2);
  EXPECT_NE(option.err.find("--fail-back: only with --exit-maintenance-at"), std::string::npos) << option.err;
}

}  // namespace
}  // namespace revive::testing
