// The recovery's critical path and its bounds through `revive simulate` (issue 11 §2-§4): disk and network
// steps begin at the declaration, the start follows the fence and the remap at once; every bound printed is
// <= the makespan of every strategy and says what it covers; latency.repeatability and the estimators.
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "model/inventory.h"
#include "support/test_support.h"

namespace revive::testing {
namespace {

std::string pod16_inventory() {
  return (examples_dir() / "pod-16" / "inventory.yaml").string();
}

const char* kLatencies = R"(latency:
  fence: {median: 8, spread: 0.2}
  disk_unmap: {median: 2, spread: 0.3}
  disk_map: {median: 4, spread: 0.3}
  net_config: {median: 3, spread: 0.3}
  vm_start: {median: 60, spread: 0.4}
  vm_stop: {median: 20, spread: 0.3}
)";

// With the real detector (no fixed detect): a crash at 0 is declared a few seconds later, the fence takes
// about 8 s more; the failed host's unmaps (and the targets' network steps) begin at the declaration, not
// after the fence, no start begins before the fence, and the first critical start begins within 0.5 s of
// the later of the fence and that VM's own remap.
TEST(ScheduleCli, DiskAndNetworkStepsBeginAtTheDeclarationAndTheFirstCriticalStartFollowsAtOnce) {
  TempDir dir;
  auto scenario = dir.write("scenario.yaml", std::string("version: 1\nseed: 5\n") + kLatencies +
                                                 "events:\n- {at: 0, fail: [host-0006]}\n");
  auto out = dir.path() / "run";
  auto result = run_cli(
      {"simulate", "--inventory", pod16_inventory(), "--scenario", scenario.string(), "--out", out.string()});
  ASSERT_EQ(result.exit_status, 0) << result.err;
  auto summary = nlohmann::json::parse(result.out);
  ASSERT_EQ(summary["hosts"].size(), 1u);
  double declared = summary["hosts"][0]["declared_at_s"].get<double>();
  double fenced = summary["hosts"][0]["fenced_at_s"].get<double>();
  ASSERT_GT(fenced, declared + 1.0);
  auto cloud = model::load_inventory_file(pod16_inventory());
  auto timeline = nlohmann::json::parse(read_file(out / "timeline.json"));
  std::size_t unmaps_before_fence = 0, nets_before_fence = 0;
  std::map<std::string, double> remapped;  // VM -> end of its last map or net_config
  struct Start {
    std::string vm;
    double at;
  };
  std::vector<Start> critical_starts;
  for (const auto& step : timeline["steps"]) {
    auto kind = step["step"].get<std::string>();
    auto vm = step["vm"].get<std::string>();
    double start = step["start_s"].get<double>(), end = step["end_s"].get<double>();
    if (kind == "disk_unmap" && step["host"] == "host-0006") {
      EXPECT_GE(start, declared - 1e-9);
      if (start < fenced) ++unmaps_before_fence;
    }
    if (kind == "net_config" && start < fenced) ++nets_before_fence;
    if (kind == "disk_map" || kind == "net_config") remapped[vm] = std::max(remapped[vm], end);
    if (kind == "vm_start") {
      EXPECT_GE(start, fenced - 1e-9) << vm << " started before the fence";
      auto index = cloud.find_vm(vm);
      ASSERT_NE(index, model::kNoIndex);
      if (cloud.vms[index].priority == model::Priority::critical) critical_starts.push_back({vm, start});
    }
  }
  EXPECT_GT(unmaps_before_fence, 0u);
  EXPECT_GT(nets_before_fence, 0u);
  ASSERT_FALSE(critical_starts.empty());
  auto first = *std::min_element(critical_starts.begin(), critical_starts.end(),
                                 [](const Start& a, const Start& b) { return a.at < b.at; });
  EXPECT_LE(first.at, std::max(fenced, remapped[first.vm]) + 0.5) << first.vm;
  EXPECT_EQ(summary["double_runs"], 0);
}

void expect_bounds_hold(const std::string& inventory, const std::string& scenario) {
  auto result = run_cli({"simulate", "--inventory", inventory, "--scenario", scenario, "--compare"});
  // 0, or 3 (some VMs wait) or 6 (VMs left on a drained host at its deadline); never 4 (an invariant broken).
  ASSERT_TRUE(result.exit_status == 0 || result.exit_status == 3 || result.exit_status == 6)
      << scenario << ": exit " << result.exit_status << "\n"
      << result.err;
  auto all = nlohmann::json::parse(result.out);
  ASSERT_TRUE(all.is_array());
  for (const auto& run : all) {
    double makespan = run["makespan_s"].get<double>();
    double bound = run["lower_bound_s"].get<double>(), tight = run["tight_bound_s"].get<double>();
    EXPECT_LE(bound, tight + 1e-9) << scenario << " " << run["strategy"];
    EXPECT_LE(tight, makespan + 1e-9) << scenario << " " << run["strategy"];
    EXPECT_FALSE(run["bound_covers"].get<std::string>().empty()) << scenario;
  }
}

// Every bound printed is <= the makespan of every strategy: a later failure (whose host is declared later),
// VMs recovered twice (their first target fails), `after` chains, evacuations with cold moves.
TEST(ScheduleCli, EveryBoundPrintedIsAtMostTheMakespanOfEveryStrategy) {
  TempDir dir;
  auto later = dir.write("later.yaml", std::string("version: 1\nseed: 3\n") + kLatencies +
                                           "  detect: 5\nevents:\n- {at: 0, fail: [host-0006, host-0015]}\n"
                                           "- {at: 40, fail: [host-0002]}\n- {at: 90, fail: [host-0011]}\n");
  expect_bounds_hold(pod16_inventory(), later.string());
  expect_bounds_hold(pod16_inventory(), (examples_dir() / "pod-16" / "scenario-evacuate.yaml").string());
  expect_bounds_hold((examples_dir() / "tight-8" / "inventory.yaml").string(),
                     (examples_dir() / "tight-8" / "scenario.yaml").string());
  // The later failure shows in what the bound covers.
  auto table = run_cli(
      {"simulate", "--inventory", pod16_inventory(), "--scenario", later.string(), "--format", "table"});
  ASSERT_EQ(table.exit_status, 0) << table.err;
  EXPECT_NE(table.out.find("bounds cover"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("declared failed between"), std::string::npos) << table.out;
}

// A run with nothing to restart prints no ratio to a bound of 0.
TEST(ScheduleCli, NothingToRestartPrintsNoRatio) {
  TempDir dir;
  auto scenario = dir.write("isolate.yaml", std::string("version: 1\nseed: 3\n") + kLatencies +
                                                "  detect: 5\nevents:\n- {at: 0, isolate: [host-0006]}\n");
  auto table = run_cli({"simulate", "--inventory", pod16_inventory(), "--scenario", scenario.string(),
                        "--format", "table", "--compare"});
  ASSERT_EQ(table.exit_status, 0) << table.err;
  EXPECT_EQ(table.out.find("0.00x"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("lower bound     none"), std::string::npos) << table.out;
}

// latency.repeatability: read, checked, and the estimators are named (clairvoyant for analysis only).
TEST(ScheduleCli, RepeatabilityIsReadAndCheckedAndEstimatorsAreNamed) {
  TempDir dir;
  auto bad = dir.write("bad.yaml",
                       "version: 1\nlatency:\n  repeatability: 1.5\n  detect: 5\nevents:\n"
                       "- {at: 0, fail: [host-0006]}\n");
  auto result = run_cli({"simulate", "--inventory", pod16_inventory(), "--scenario", bad.string()});
  EXPECT_EQ(result.exit_status, 2);
  EXPECT_NE(result.err.find("latency.repeatability"), std::string::npos) << result.err;
  auto unknown = run_cli({"simulate", "--inventory", pod16_inventory(), "--scenario",
                          (examples_dir() / "pod-16" / "scenario.yaml").string(), "--estimates", "oracle"});
  EXPECT_EQ(unknown.exit_status, 2);
  EXPECT_NE(unknown.err.find("history, median or clairvoyant"), std::string::npos) << unknown.err;
  // With repeatability 1 a VM's habit is the whole of its duration: history knows every duration, as the
  // clairvoyant estimator does, and the two runs are the same.
  auto full =
      dir.write("full.yaml", std::string("version: 1\nseed: 9\n") + kLatencies +
                                 "  repeatability: 1\n  detect: 5\nevents:\n- {at: 0, fail: [host-0006]}\n");
  auto history = run_cli({"simulate", "--inventory", pod16_inventory(), "--scenario", full.string()});
  auto clairvoyant = run_cli({"simulate", "--inventory", pod16_inventory(), "--scenario", full.string(),
                              "--estimates", "clairvoyant"});
  ASSERT_EQ(history.exit_status, 0) << history.err;
  ASSERT_EQ(clairvoyant.exit_status, 0) << clairvoyant.err;
  auto a = nlohmann::json::parse(history.out), b = nlohmann::json::parse(clairvoyant.out);
  EXPECT_EQ(a["makespan_s"], b["makespan_s"]);
  // With the default (0.8) this run's noise is unknown to history: the runs differ.
  auto partial = dir.write("partial.yaml", std::string("version: 1\nseed: 9\n") + kLatencies +
                                               "  detect: 5\nevents:\n- {at: 0, fail: [host-0006]}\n");
  auto honest = run_cli({"simulate", "--inventory", pod16_inventory(), "--scenario", partial.string(),
                         "--out", (dir.path() / "honest").string()});
  auto oracle = run_cli({"simulate", "--inventory", pod16_inventory(), "--scenario", partial.string(),
                         "--estimates", "clairvoyant", "--out", (dir.path() / "oracle").string()});
  ASSERT_EQ(honest.exit_status, 0) << honest.err;
  ASSERT_EQ(oracle.exit_status, 0) << oracle.err;
  EXPECT_NE(read_file(dir.path() / "honest" / "timeline.json"),
            read_file(dir.path() / "oracle" / "timeline.json"));
}

}  // namespace
}  // namespace revive::testing
