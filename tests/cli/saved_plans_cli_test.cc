// Prestaged plans saved and used later: `revive plan --precompute --save FILE`, then `revive plan --plans
// FILE` and `revive simulate --plans FILE` start from the saved plan of the failed hosts when it still holds
// for the inventory, and plan afresh (saying why) when it does not.
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace revive::testing {
namespace {

std::string pod16(const std::string& file) {
  return (examples_dir() / "pod-16" / file).string();
}

// pod-16's inventory with `host` put into maintenance (so a plan that targets it no longer holds).
std::filesystem::path with_host_in_maintenance(TempDir& dir, const std::string& host) {
  auto text = read_file(pod16("inventory.yaml"));
  auto at = text.find("- name: " + host + "\n");
  EXPECT_NE(at, std::string::npos);
  text.insert(at + std::string("- name: " + host + "\n").size(), "  state: maintenance\n");
  return dir.write("inventory-maintenance.yaml", text);
}

TEST(SavedPlansCli, APlanSavedByPrecomputeIsUsedWhileItHoldsAndSetAsideWhenItDoesNot) {
  TempDir dir;
  auto plans = (dir.path() / "plans.json").string();
  auto saved = run_cli({"plan", "--inventory", pod16("inventory.yaml"), "--precompute", "--save", plans});
  ASSERT_EQ(saved.exit_status, 3) << saved.err;  // one prestaged plan of pod-16 leaves VMs waiting
  EXPECT_NE(saved.out.find("saved to " + plans), std::string::npos) << saved.out;
  auto document = nlohmann::json::parse(read_file(plans));
  ASSERT_EQ(document["version"], 1);
  ASSERT_GT(document["plans"].size(), 16u);

  auto fresh =
      run_cli({"plan", "--inventory", pod16("inventory.yaml"), "--fail", "host-0006", "--format", "json"});
  auto reused = run_cli({"plan", "--inventory", pod16("inventory.yaml"), "--fail", "host-0006", "--format",
                         "json", "--plans", plans});
  EXPECT_EQ(reused.exit_status, 0) << reused.err;
  EXPECT_EQ(reused.err, "");
  auto fresh_plan = nlohmann::json::parse(fresh.out), reused_plan = nlohmann::json::parse(reused.out);
  EXPECT_EQ(reused_plan["placements"], fresh_plan["placements"]);
  EXPECT_EQ(reused_plan["stats"]["plan_ms"], 0.0) << "taken from the file, not computed";

  // The saved plan sends vm-000168 to host-0009; with host-0009 in maintenance it no longer holds.
  ASSERT_EQ(fresh_plan["placements"][0]["to"], "host-0009");
  auto changed = with_host_in_maintenance(dir, "host-0009").string();
  auto stale =
      run_cli({"plan", "--inventory", changed, "--fail", "host-0006", "--format", "json", "--plans", plans});
  EXPECT_EQ(stale.exit_status, 0) << stale.err;
  EXPECT_NE(stale.err.find("revive: plan host-0006 no longer holds: "), std::string::npos) << stale.err;
  EXPECT_NE(stale.err.find("; planned afresh"), std::string::npos) << stale.err;
  auto stale_plan = nlohmann::json::parse(stale.out);  // a named object: the loop must not outlive it
  for (const auto& placement : stale_plan["placements"]) {
    EXPECT_NE(placement["to"], "host-0009") << placement.dump();
  }
}

TEST(SavedPlansCli, TheSimulatedRecoveryStartsFromTheSavedPlan) {
  TempDir dir;
  auto plans = (dir.path() / "plans.json").string();
  ASSERT_EQ(
      run_cli({"plan", "--inventory", pod16("inventory.yaml"), "--precompute", "--save", plans}).exit_status,
      3);
  auto scenario = dir.write(
      "one.yaml", "version: 1\nseed: 4\nlatency: {detect: 5}\nevents:\n- {at: 0, fail: host-0006}\n");
  auto fresh = run_cli({"simulate", "--inventory", pod16("inventory.yaml"), "--scenario", scenario.string()});
  auto reused = run_cli({"simulate", "--inventory", pod16("inventory.yaml"), "--scenario", scenario.string(),
                         "--plans", plans});
  EXPECT_EQ(reused.exit_status, 0) << reused.err;
  EXPECT_NE(reused.err.find("revive: 1 planning round started from a saved plan of " + plans),
            std::string::npos)
      << reused.err;
  auto a = nlohmann::json::parse(fresh.out), b = nlohmann::json::parse(reused.out);
  EXPECT_EQ(b["restarted"], a["restarted"]);
  EXPECT_EQ(b["makespan_s"], a["makespan_s"]) << "the same plan, the same recovery";

  auto changed = with_host_in_maintenance(dir, "host-0009").string();
  auto stale =
      run_cli({"simulate", "--inventory", changed, "--scenario", scenario.string(), "--plans", plans});
  EXPECT_EQ(stale.exit_status, 0) << stale.err;
  EXPECT_NE(stale.err.find("0 planning rounds started from a saved plan"), std::string::npos) << stale.err;
  EXPECT_NE(stale.err.find("1 set aside (plan host-0006 no longer holds: "), std::string::npos) << stale.err;
}

TEST(SavedPlansCli, ABadPlansFileIsRefusedWithTheFieldNamed) {
  TempDir dir;
  auto bad = dir.write("bad.json",
                       R"({"version": 1, "plans": [{"name": "host-0006", "failed_hosts": ["host-0006"],
                            "placements": [{"vm": "vm-000168", "from": "host-0006", "to": "host-9999"}],
                            "waiting": []}]})");
  auto run = run_cli(
      {"plan", "--inventory", pod16("inventory.yaml"), "--fail", "host-0006", "--plans", bad.string()});
  EXPECT_EQ(run.exit_status, 2);
  EXPECT_NE(run.err.find("bad.json: plans[0].placements[0].to: unknown host \"host-9999\""),
            std::string::npos)
      << run.err;
  auto missing = run_cli({"simulate", "--inventory", pod16("inventory.yaml"), "--scenario",
                          pod16("scenario.yaml"), "--plans", (dir.path() / "none.json").string()});
  EXPECT_EQ(missing.exit_status, 2);
  EXPECT_NE(missing.err.find("none.json: cannot read"), std::string::npos) << missing.err;
  auto save_alone =
      run_cli({"plan", "--inventory", pod16("inventory.yaml"), "--fail", "host-0006", "--save", "x"});
  EXPECT_EQ(save_alone.exit_status, 2);
  EXPECT_NE(save_alone.err.find("--save: only with --precompute"), std::string::npos) << save_alone.err;
}

}  // namespace
}  // namespace revive::testing
