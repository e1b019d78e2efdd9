// What `revive simulate` says happened to each host a scenario takes down (the summary's `hosts`): declared
// failed and fenced, isolated and left alone, or its fencing held back by the storm guard, a decision that
// has its own exit status (5) and is never reported as a broken invariant.
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace revive::testing {
namespace {

std::string tight8_inventory() {
  return (examples_dir() / "tight-8" / "inventory.yaml").string();
}

TEST(LostHostsCli, TheStormGuardHoldingFencingIsADecisionWithItsOwnExitStatus) {
  TempDir dir;
  // 5 of 8 hosts crash at once: more than half, so the real detector's storm guard holds every fence.
  auto scenario = dir.write("storm.yaml",
                            "version: 1\nseed: 3\nevents:\n"
                            "- {at: 0, fail: [host-0001, host-0002, host-0003, host-0004, host-0005]}\n");
  auto json = run_cli({"simulate", "--inventory", tight8_inventory(), "--scenario", scenario.string()});
  EXPECT_EQ(json.exit_status, 5) << json.err;
  EXPECT_EQ(json.err.find("invariant"), std::string::npos) << json.err;
  EXPECT_NE(json.err.find("revive: fencing of host-0003 held back"), std::string::npos) << json.err;
  auto summary = nlohmann::json::parse(json.out);
  EXPECT_EQ(summary["lost"], 0) << "VMs without a proof of fencing are not lost";
  ASSERT_EQ(summary["hosts"].size(), 5u);
  for (const auto& host : summary["hosts"]) {
    EXPECT_EQ(host["outcome"], "fencing_held") << host.dump();
    EXPECT_EQ(host["lost"], "crash");
    EXPECT_TRUE(host["fenced_at_s"].is_null());
    EXPECT_GT(host["vms_held"].get<int>(), 0);
    EXPECT_NE(host["reason"].get<std::string>().find("storm guard: 5 of 8 hosts suspect"), std::string::npos)
        << host.dump();
  }

  auto table = run_cli(
      {"simulate", "--inventory", tight8_inventory(), "--scenario", scenario.string(), "--format", "table"});
  EXPECT_EQ(table.exit_status, 5);
  EXPECT_EQ(table.out.find("INVARIANTS BROKEN"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("host-0001 (crash at 0.0 s): FENCING HELD, "), std::string::npos) << table.out;
}

TEST(LostHostsCli, EveryCrashedHostIsReportedDeclaredAndFenced) {
  auto result = run_cli({"simulate", "--inventory", (examples_dir() / "pod-16" / "inventory.yaml").string(),
                         "--scenario", (examples_dir() / "pod-16" / "scenario.yaml").string()});
  ASSERT_EQ(result.exit_status, 0) << result.err;
  auto summary = nlohmann::json::parse(result.out);
  ASSERT_EQ(summary["hosts"].size(), 2u);
  for (const auto& host : summary["hosts"]) {
    EXPECT_EQ(host["outcome"], "fenced") << host.dump();
    EXPECT_LT(host["declared_at_s"].get<double>(), host["fenced_at_s"].get<double>());
    EXPECT_EQ(host["reason"], "");
  }
}

}  // namespace
}  // namespace revive::testing
