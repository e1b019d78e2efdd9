// `revive check --rto`: the capacity check as a time check. For every failure, when each priority tier would
// run again (p50, p90), against the inventory's policy.rto_s budgets, with what binds; exit 3 when a budget
// breaks.
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace revive::testing {
namespace {

// pod-16's inventory with `rto_s` added to its policy.
std::filesystem::path pod16_with_budgets(TempDir& dir, const std::string& budgets) {
  auto text = read_file(examples_dir() / "pod-16" / "inventory.yaml");
  auto at = text.find("policy:\n");
  EXPECT_NE(at, std::string::npos);
  text.insert(at + std::string("policy:\n").size(), "  rto_s: " + budgets + "\n");
  return dir.write("inventory.yaml", text);
}

TEST(RtoCli, BudgetsNoFailureCanMeetAreReportedWithWhatBinds) {
  TempDir dir;
  auto tight = pod16_with_budgets(dir, "{critical: 30, high: 100000}");
  auto run = run_cli({"check", "--inventory", tight.string(), "--rto"});
  EXPECT_EQ(run.exit_status, 3) << run.err;
  EXPECT_NE(run.out.find("Predicted recovery times for 16 failures (64 scheduler runs each)"),
            std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("16 would break a recovery-time budget"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("critical worst p90"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("OVER: "), std::string::npos) << run.out;

  auto json = run_cli({"check", "--inventory", tight.string(), "--rto", "--format", "json"});
  EXPECT_EQ(json.exit_status, 3);
  auto report = nlohmann::json::parse(json.out);
  EXPECT_EQ(report["failures_checked"], 16);
  EXPECT_EQ(report["breaking"], 16);
  EXPECT_EQ(report["rto_s"]["critical"], 30.0);
  for (const auto& failure : report["failures"]) {
    const auto& tiers = failure["tiers"];
    if (tiers.contains("critical")) {
      EXPECT_TRUE(tiers["critical"]["breaks"].get<bool>()) << failure.dump();
      EXPECT_GT(tiers["critical"]["p90_s"].get<double>(), 30.0);
      EXPECT_GE(tiers["critical"]["p90_s"].get<double>(), tiers["critical"]["p50_s"].get<double>());
    }
    if (tiers.contains("high")) {
      EXPECT_FALSE(tiers["high"]["breaks"].get<bool>()) << failure.dump();
    }
    if (tiers.contains("medium")) {
      EXPECT_TRUE(tiers["medium"]["budget_s"].is_null());
    }
    EXPECT_FALSE(failure["binding"].get<std::string>().empty()) << failure.dump();
  }

  auto generous = pod16_with_budgets(dir, "{critical: 100000}");
  auto fine = run_cli({"check", "--inventory", generous.string(), "--rto"});
  EXPECT_EQ(fine.exit_status, 0) << fine.out;
  EXPECT_NE(fine.out.find("0 would break a recovery-time budget"), std::string::npos) << fine.out;
}

TEST(RtoCli, TheScenarioLatenciesDriveThePrediction) {
  TempDir dir;
  auto inventory = (examples_dir() / "pod-16" / "inventory.yaml").string();
  auto fast = dir.write("fast.yaml",
                        "version: 1\nlatency: {detect: 1, fence: 1, vm_start: {median: 5, spread: 0.1}}\n");
  auto report = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> arguments = {"check", "--inventory", inventory, "--rto", "--format", "json"};
    arguments.insert(arguments.end(), extra.begin(), extra.end());
    auto run = run_cli(arguments);
    EXPECT_EQ(run.exit_status, 0) << run.err;
    return nlohmann::json::parse(run.out);
  };
  auto slow = report({});
  auto quick = report({"--scenario", fast.string()});
  double slow_p50 = slow["failures"][0]["tiers"]["critical"]["p50_s"];
  double quick_p50 = quick["failures"][0]["tiers"]["critical"]["p50_s"];
  EXPECT_LT(quick_p50, slow_p50 / 3) << quick.dump() << slow.dump();
  // Deterministic for a seed.
  EXPECT_EQ(report({})["failures"], slow["failures"]);

  // The scenario's repeatability: at 1 a VM's disks map alike in each run, at 0 each disk alone, so the
  // slowest of a VM's several disks comes later.
  auto disks_decide = [&](const std::string& repeatability) {
    auto path =
        dir.write("disks-" + repeatability + ".yaml",
                  "version: 1\nlatency: {detect: 1, fence: 1, disk_unmap: 1, net_config: 1, vm_start: 1,\n"
                  "  disk_map: {median: 20, spread: 1.5}, repeatability: " +
                      repeatability + "}\n");
    double sum = 0.0;
    auto predicted = report({"--scenario", path.string()});
    for (const auto& failure : predicted["failures"]) {
      for (const auto& [name, tier] : failure["tiers"].items()) {
        if (tier.contains("p50_s")) sum += tier["p50_s"].get<double>();
      }
    }
    return sum;
  };
  double shared = disks_decide("1"), independent = disks_decide("0");
  EXPECT_GT(shared, 0.0);
  EXPECT_GT(independent, 1.2 * shared);
}

TEST(RtoCli, BadBudgetsAndOptionsAreRefused) {
  TempDir dir;
  auto bad = pod16_with_budgets(dir, "{critical: -1, urgent: 10}");
  auto run = run_cli({"check", "--inventory", bad.string(), "--rto"});
  EXPECT_EQ(run.exit_status, 2);
  EXPECT_NE(run.err.find("inventory.yaml:3: policy.rto_s.critical"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("policy.rto_s.urgent"), std::string::npos) << run.err;
  auto inventory = (examples_dir() / "pod-16" / "inventory.yaml").string();
  auto scenario_alone = run_cli({"check", "--inventory", inventory, "--scenario", "x.yaml"});
  EXPECT_EQ(scenario_alone.exit_status, 2);
  EXPECT_NE(scenario_alone.err.find("--scenario: only with --rto"), std::string::npos) << scenario_alone.err;
  auto no_runs = run_cli({"check", "--inventory", inventory, "--rto", "--runs", "0"});
  EXPECT_EQ(no_runs.exit_status, 2);
  EXPECT_NE(no_runs.err.find("--runs: must be at least 1"), std::string::npos) << no_runs.err;
}

}  // namespace
}  // namespace revive::testing
