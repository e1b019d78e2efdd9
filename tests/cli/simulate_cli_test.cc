// `revive simulate` through the command line: the spec's outputs, determinism, and bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace revive::testing {
namespace {

std::string scenario_file(const std::string& name, const std::string& file) {
  return (examples_dir() / name / file).string();
}

nlohmann::json without_wall(const std::string& text) {
  auto json = nlohmann::json::parse(text);
  json.erase("wall_ms");
  return json;
}

TEST(SimulateCli, Pod16PrintsTheSpecSummaryAndWritesTimelineAndChart) {
  TempDir dir;
  auto out = dir.path() / "run";
  auto result = run_cli({"simulate", "--inventory", scenario_file("pod-16", "inventory.yaml"), "--scenario",
                         scenario_file("pod-16", "scenario.yaml"), "--out", out.string()});
  ASSERT_EQ(result.exit_status, 0) << result.err;
  auto summary = nlohmann::json::parse(result.out);
  std::vector<std::string> keys;
  for (auto it = summary.begin(); it != summary.end(); ++it) keys.push_back(it.key());
  // nlohmann::json sorts keys; the spec's set of keys, each present.
  for (const char* key :
       {"strategy", "makespan_s", "lower_bound_s", "tight_bound_s", "bound_covers", "restarted", "evacuated",
        "waiting", "failed", "double_runs", "lost", "tier_done_s", "hosts", "wall_ms"}) {
    EXPECT_TRUE(summary.contains(key)) << key;
  }
  EXPECT_EQ(keys.size(), 14u);
  EXPECT_EQ(result.out.rfind("{\"strategy\":\"revive\",\"makespan_s\":", 0), 0u) << "spec key order";
  EXPECT_EQ(summary["restarted"], 48);
  EXPECT_EQ(summary["double_runs"], 0);
  EXPECT_EQ(summary["lost"], 0);
  EXPECT_LE(summary["makespan_s"].get<double>(), 1.10 * summary["lower_bound_s"].get<double>());
  for (const char* tier : {"critical", "high", "medium", "low"})
    EXPECT_TRUE(summary["tier_done_s"].contains(tier));

  auto timeline = nlohmann::json::parse(read_file(out / "timeline.json"));
  ASSERT_TRUE(timeline["steps"].is_array());
  std::size_t starts = 0, fences = 0;
  for (const auto& step : timeline["steps"]) {
    for (const char* key : {"vm", "step", "host", "disk", "start_s", "end_s", "ok"}) {
      ASSERT_TRUE(step.contains(key)) << step.dump();
    }
    auto kind = step["step"].get<std::string>();
    if (kind == "vm_start") ++starts;
    if (kind == "fence") {
      ++fences;
      EXPECT_EQ(step["vm"], "");
    }
    bool disk_step = kind == "disk_map" || kind == "disk_unmap";
    EXPECT_EQ(step["disk"].get<std::string>().empty(), !disk_step) << step.dump();
    EXPECT_LE(step["start_s"].get<double>(), step["end_s"].get<double>());
  }
  EXPECT_EQ(starts, 48u);
  EXPECT_EQ(fences, 2u);
  auto svg = read_file(out / "timeline.svg");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  for (const char* text :
       {"array array-1", "endpoint mgmt-1", "fencing", "vm_start", "critical done", "</svg>"}) {
    EXPECT_NE(svg.find(text), std::string::npos) << text;
  }
}

TEST(SimulateCli, SameInputsGiveByteIdenticalOutputs) {
  TempDir dir;
  std::vector<std::string> outputs;
  std::vector<std::string> timelines;
  for (int run = 0; run < 2; ++run) {
    auto out = dir.path() / ("run" + std::to_string(run));
    auto result = run_cli({"simulate", "--inventory", scenario_file("tight-8", "inventory.yaml"),
                           "--scenario", scenario_file("tight-8", "scenario.yaml"), "--out", out.string()});
    ASSERT_EQ(result.exit_status, 3) << result.err;  // some VMs wait
    outputs.push_back(without_wall(result.out).dump());
    timelines.push_back(read_file(out / "timeline.json"));
    EXPECT_EQ(read_file(out / "timeline.svg"), read_file(dir.path() / "run0" / "timeline.svg"));
  }
  EXPECT_EQ(outputs[0], outputs[1]);
  EXPECT_EQ(timelines[0], timelines[1]);
}

TEST(SimulateCli, EveryStrategyAndTheComparisonTable) {
  for (const char* strategy : {"serial", "parallel-restart", "parallel", "revive"}) {
    auto result = run_cli({"simulate", "--inventory", scenario_file("pod-16", "inventory.yaml"), "--scenario",
                           scenario_file("pod-16", "scenario.yaml"), "--strategy", strategy});
    ASSERT_EQ(result.exit_status, 0) << result.err;
    EXPECT_EQ(nlohmann::json::parse(result.out)["strategy"], strategy);
  }
  auto table = run_cli({"simulate", "--inventory", scenario_file("pod-16", "inventory.yaml"), "--scenario",
                        scenario_file("pod-16", "scenario.yaml"), "--compare", "--format", "table"});
  ASSERT_EQ(table.exit_status, 0) << table.err;
  for (const char* text :
       {"makespan", "lower bound", "critical done", "STRATEGY", "serial", "parallel-restart", "SPEED-UP"}) {
    EXPECT_NE(table.out.find(text), std::string::npos) << text << "\n" << table.out;
  }
}

TEST(SimulateCli, BadInputIsReportedWithFileLineAndField) {
  TempDir dir;
  auto scenario = dir.write("bad.yaml", "version: 1\nevents:\n  - {at: 0, fail: [host-9999]}\n");
  auto result = run_cli({"simulate", "--inventory", scenario_file("pod-16", "inventory.yaml"), "--scenario",
                         scenario.string()});
  EXPECT_EQ(result.exit_status, 2);
  EXPECT_NE(result.err.find("bad.yaml:3: events[0].fail[0]: unknown host \"host-9999\""), std::string::npos)
      << result.err;

  auto strategy = run_cli({"simulate", "--inventory", scenario_file("pod-16", "inventory.yaml"), "--scenario",
                           scenario_file("pod-16", "scenario.yaml"), "--strategy", "fastest"});
  EXPECT_EQ(strategy.exit_status, 2);
  EXPECT_NE(strategy.err.find("--strategy"), std::string::npos);

  auto evacuate = run_cli({"simulate", "--inventory", scenario_file("pod-16", "inventory.yaml"), "--scenario",
                           scenario_file("pod-16", "scenario-evacuate.yaml")});
  EXPECT_EQ(evacuate.exit_status, 0) << evacuate.err;  // evacuations are simulated (evacuate_cli_test.cc)
}

// A host fails while another is drained on a predicted failure whose deadline sends its VMs cold at once,
// through one endpoint and two arrays of 2 slots: restarts and cold moves together keep every limit (the
// world reports any excess as a broken invariant, exit 4) and every VM ends on one host.
TEST(SimulateCli, RecoveryAndColdMovesAtOnceKeepEverySharedLimit) {
  TempDir dir;
  auto inventory = read_file(scenario_file("pod-16", "inventory.yaml"));
  auto replace_all = [&inventory](const std::string& from, const std::string& to) {
    std::size_t count = 0;
    for (auto at = inventory.find(from); at != std::string::npos; at = inventory.find(from, at + to.size())) {
      inventory.replace(at, from.size(), to);
      ++count;
    }
    return count;
  };
  ASSERT_EQ(replace_all("{name: mgmt-1, max_parallel: 32}", "{name: mgmt-1, max_parallel: 2}"), 1u);
  ASSERT_EQ(replace_all("max_parallel: 8}", "max_parallel: 2}"), 2u);  // array-1, array-2
  auto inventory_path = dir.write("inventory.yaml", inventory);
  auto scenario_path = dir.write("scenario.yaml",
                                 "version: 1\nseed: 7\nlatency: {detect: 5}\nevents:\n"
                                 "- {at: 0, evacuate: host-0009, deadline: 40, reason: predicted-failure}\n"
                                 "- {at: 0, fail: [host-0003]}\n");
  auto result = run_cli({"simulate", "--inventory", inventory_path.string(), "--scenario",
                         scenario_path.string(), "--out", (dir.path() / "run").string()});
  EXPECT_EQ(result.err.find("invariant"), std::string::npos) << result.err;
  auto summary = nlohmann::json::parse(result.out);
  // A 40 s predicted-failure window: some VMs still run on the drained host when it closes (exit 6).
  ASSERT_EQ(result.exit_status, summary["evacuation"]["running_at_deadline"].get<int>() > 0 ? 6 : 0)
      << result.err;
  EXPECT_EQ(summary["restarted"], 28);  // every VM of host-0003
  EXPECT_EQ(summary["evacuated"], 30);  // every VM of host-0009
  EXPECT_EQ(summary["double_runs"], 0);
  EXPECT_EQ(summary["lost"], 0);
  EXPECT_GT(summary["evacuation"]["moved_cold"].get<int>(), 0);
  // At no instant do the two engines together run more than 2 operations through the endpoint or an array.
  auto timeline = nlohmann::json::parse(read_file(dir.path() / "run" / "timeline.json"));
  std::map<std::string, std::vector<std::pair<double, int>>> edges;  // scope -> (time, +1/-1)
  for (const auto& step : timeline["steps"]) {
    auto kind = step["step"].get<std::string>();
    std::string scope;
    if (kind == "vm_start" || kind == "vm_stop") scope = "mgmt-1";
    if (kind == "disk_map" || kind == "disk_unmap") scope = "disks";  // both arrays: at most 2 + 2
    if (scope.empty()) continue;
    edges[scope].emplace_back(step["start_s"].get<double>(), 1);
    edges[scope].emplace_back(step["end_s"].get<double>(), -1);
  }
  ASSERT_FALSE(edges["mgmt-1"].empty());
  for (auto& [scope, list] : edges) {
    std::sort(list.begin(), list.end());  // ends (-1) before starts (+1) at the same instant
    int busy = 0, peak = 0;
    for (const auto& edge : list) peak = std::max(peak, busy += edge.second);
    EXPECT_LE(peak, scope == "mgmt-1" ? 2 : 4) << scope;
  }
  // No VM of the failed host is restarted onto the drained one: nothing starts there at all.
  for (const auto& step : timeline["steps"]) {
    if (step["step"] == "vm_start") {
      EXPECT_NE(step["host"], "host-0009") << step["vm"];
    }
  }
}

}  // namespace
}  // namespace revive::testing
