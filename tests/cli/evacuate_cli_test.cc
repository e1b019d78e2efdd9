// `revive evacuate --simulate` and `evacuate` events in `revive simulate`, run as a user would.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace revive::testing {
namespace {

std::string pod16(const char* file) {
  return (examples_dir() / "pod-16" / file).string();
}

nlohmann::json without_wall(const std::string& out) {
  auto json = nlohmann::json::parse(out);
  json.erase("wall_ms");
  return json;
}

TEST(EvacuateCli, PredictedFailureEmptiesTheHostBeforeTheDeadline) {
  TempDir dir;
  auto result =
      run_cli({"evacuate", "--inventory", pod16("inventory.yaml"), "--host", "host-0009", "--deadline", "300",
               "--reason", "predicted-failure", "--simulate", "--out", dir.path().string()});
  ASSERT_EQ(result.exit_status, 0) << result.err;
  auto summary = nlohmann::json::parse(result.out);
  EXPECT_EQ(summary["strategy"], "revive");
  EXPECT_EQ(summary["evacuated"], 30);
  EXPECT_EQ(summary["double_runs"], 0);
  EXPECT_EQ(summary["evacuation"]["running_at_deadline"], 0);
  EXPECT_LE(summary["makespan_s"].get<double>(), 300.0);
  EXPECT_GT(summary["lower_bound_s"].get<double>(), 0.0);
  for (const auto& vm : summary["evacuation"]["reported"]) {
    EXPECT_EQ(vm["outcome"], "moved_cold");
    EXPECT_NE(vm["reason"].get<std::string>().find("moved cold"), std::string::npos);
  }
  auto timeline = nlohmann::json::parse(read_file(dir.path() / "timeline.json"));
  int migrations = 0;
  for (const auto& step : timeline["steps"]) {
    if (step["step"] != "migrate") continue;
    ++migrations;
    EXPECT_EQ(step["from"], "host-0009");
    EXPECT_NE(step["host"], "host-0009");
    EXPECT_TRUE(step.contains("rounds") && step.contains("downtime_s")) << step.dump();
  }
  EXPECT_GT(migrations, 20);
  auto svg = read_file(dir.path() / "timeline.svg");
  EXPECT_NE(svg.find("Evacuation timeline: strategy revive"), std::string::npos);
  EXPECT_NE(svg.find("migrations off host-0009"), std::string::npos);
  EXPECT_NE(svg.find("class=\"downtime\""), std::string::npos);
}

TEST(EvacuateCli, BaselinesRunAndReportWhatTheyLeaveRunning) {
  for (const char* strategy : {"sequential", "fixed-8"}) {
    auto result = run_cli({"evacuate", "--inventory", pod16("inventory.yaml"), "--host",
                           "host-0003,host-0009", "--deadline", "300", "--simulate", "--strategy", strategy});
    ASSERT_EQ(result.exit_status, 6) << "VMs still run at the deadline: " << result.err;
    EXPECT_NE(result.err.find("still ran on a drained host at its deadline"), std::string::npos)
        << result.err;
    auto summary = nlohmann::json::parse(result.out);
    EXPECT_EQ(summary["strategy"], strategy);
    EXPECT_EQ(summary["evacuated"], 58);
    EXPECT_GT(summary["evacuation"]["running_at_deadline"].get<int>(), 0);
  }
}

// Issue 11 section 6 through the CLI: the busiest 100 Gbps host of a generated busy fleet (64 hosts, dirty
// rates x3) drained with each strategy, compared in one run. revive picks targets fast enough to fill its NIC
// and ends within 1.10x the printed lower bound, before fixed-8 and sequential (before targets by NIC speed
// it was 160 s against fixed-8's 156 s). The bound is ≤ every makespan.
TEST(EvacuateCli, BusyFastHostDrainsNearTheBoundAndBeforeTheBaselines) {
  TempDir dir;
  auto generated =
      run_cli({"generate", "--hosts", "64", "--vms", "1600", "--seed", "1", "--dirty-rate-scale", "3"});
  ASSERT_EQ(generated.exit_status, 0) << generated.err;
  auto inventory = dir.write("busy.yaml", generated.out).string();
  std::map<std::string, nlohmann::json> summary;
  for (const char* strategy : {"revive", "fixed-8", "sequential"}) {
    auto result = run_cli({"evacuate", "--inventory", inventory, "--host", "host-0008", "--deadline",
                           "100000", "--simulate", "--strategy", strategy});
    ASSERT_EQ(result.exit_status, 0) << strategy << ": " << result.err;
    summary[strategy] = nlohmann::json::parse(result.out);
    EXPECT_EQ(summary[strategy]["evacuation"]["running_at_deadline"], 0) << strategy;
  }
  double revive = summary["revive"]["makespan_s"].get<double>();
  double bound = summary["revive"]["lower_bound_s"].get<double>();
  EXPECT_GT(bound, 100.0);
  EXPECT_LE(revive, 1.10 * bound);
  EXPECT_LT(revive, summary["fixed-8"]["makespan_s"].get<double>());
  EXPECT_LT(revive, summary["sequential"]["makespan_s"].get<double>());
  for (const auto& [strategy, json] : summary) {
    EXPECT_LE(json["lower_bound_s"].get<double>(), json["makespan_s"].get<double>() + 1e-9) << strategy;
  }
  EXPECT_EQ(summary["revive"]["evacuation"]["moved_cold"], 0);
}

TEST(EvacuateCli, TableForPeopleNamesColdMoves) {
  auto result = run_cli({"evacuate", "--inventory", pod16("inventory.yaml"), "--host", "host-0009",
                         "--deadline", "200", "--simulate", "--format", "table"});
  ASSERT_EQ(result.exit_status, 0) << result.err;
  EXPECT_NE(result.out.find("evacuation      revive:"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("moved cold:"), std::string::npos) << result.out;
}

TEST(EvacuateCli, OutputsAreByteIdenticalTwice) {
  TempDir a, b;
  auto first = run_cli({"evacuate", "--inventory", pod16("inventory.yaml"), "--host", "host-0003",
                        "--deadline", "900", "--simulate", "--seed", "5", "--out", a.path().string()});
  auto second = run_cli({"evacuate", "--inventory", pod16("inventory.yaml"), "--host", "host-0003",
                         "--deadline", "900", "--simulate", "--seed", "5", "--out", b.path().string()});
  ASSERT_EQ(first.exit_status, 0) << first.err;
  EXPECT_EQ(without_wall(first.out), without_wall(second.out));
  EXPECT_EQ(read_file(a.path() / "timeline.json"), read_file(b.path() / "timeline.json"));
  EXPECT_EQ(read_file(a.path() / "timeline.svg"), read_file(b.path() / "timeline.svg"));
}

TEST(EvacuateCli, BadInputIsExitTwo) {
  auto inventory = pod16("inventory.yaml");
  EXPECT_EQ(run_cli({"evacuate", "--inventory", inventory, "--host", "host-9999", "--deadline", "300",
                     "--simulate"})
                .exit_status,
            2);
  EXPECT_EQ(
      run_cli({"evacuate", "--inventory", inventory, "--host", "host-0003", "--deadline", "300"}).exit_status,
      2);  // no --simulate
  EXPECT_EQ(run_cli({"evacuate", "--inventory", inventory, "--host", "host-0003", "--deadline", "300",
                     "--simulate", "--strategy", "fastest"})
                .exit_status,
            2);
  EXPECT_EQ(
      run_cli({"evacuate", "--inventory", inventory, "--host", "host-0003", "--deadline", "0", "--simulate"})
          .exit_status,
      2);
  EXPECT_EQ(run_cli({"evacuate", "--inventory", inventory, "--host", "host-0003", "--deadline", "300",
                     "--simulate", "--reason", "boredom"})
                .exit_status,
            2);
}

TEST(EvacuateCli, VmsStillOnADrainedHostAtTheDeadlineAreANonZeroExitStatus) {
  auto result = run_cli({"evacuate", "--inventory", pod16("inventory.yaml"), "--host", "host-0003",
                         "--deadline", "10", "--simulate"});
  EXPECT_EQ(result.exit_status, 6) << result.err;
  EXPECT_GT(nlohmann::json::parse(result.out)["evacuation"]["running_at_deadline"].get<int>(), 0);
  EXPECT_NE(result.err.find("VMs still ran on a drained host at its deadline"), std::string::npos)
      << result.err;
}

TEST(SimulateCli, EvacuateEventsWithEachEvacuationStrategy) {
  for (const char* strategy : {"sequential", "fixed-8", "revive"}) {
    auto result = run_cli({"simulate", "--inventory", pod16("inventory.yaml"), "--scenario",
                           pod16("scenario-evacuate.yaml"), "--strategy", strategy});
    auto summary = nlohmann::json::parse(result.out);
    bool missed = summary["evacuation"]["running_at_deadline"].get<int>() > 0;
    ASSERT_EQ(result.exit_status, missed ? 6 : 0) << strategy << ": " << result.err;
    EXPECT_EQ(summary["strategy"], strategy);
    EXPECT_EQ(summary["evacuation"]["strategy"], strategy);
    EXPECT_EQ(summary["evacuated"], 58);
  }
}

// A drain of h1 onto h2 and h3 where v1's migrations fail (fail_step migrate) `times` times.
struct FailingMigrations {
  TempDir dir;
  std::string inventory = dir.write("cloud.yaml",
                                    "version: 1\n"
                                    "endpoints: [{name: e, max_parallel: 8}]\n"
                                    "hosts:\n"
                                    "- {name: h1, cpus: 32, memory_mib: 131072, endpoint: e, nic_gbps: 25}\n"
                                    "- {name: h2, cpus: 32, memory_mib: 131072, endpoint: e, nic_gbps: 25}\n"
                                    "- {name: h3, cpus: 32, memory_mib: 131072, endpoint: e, nic_gbps: 25}\n"
                                    "vms:\n"
                                    "- {name: v1, host: h1, cpus: 4, memory_mib: 8192}\n"
                                    "- {name: v2, host: h1, cpus: 4, memory_mib: 8192}\n")
                              .string();
  CommandResult run(int times, int deadline_s) {
    auto scenario = dir.write("scenario.yaml", fmt::format("version: 1\n"
                                                           "events:\n"
                                                           "- {{at: 0, evacuate: h1, deadline: {}}}\n"
                                                           "- {{at: 0, fail_step: {{step: migrate, vm: v1, "
                                                           "times: {}}}}}\n",
                                                           deadline_s, times));
    return run_cli({"simulate", "--inventory", inventory, "--scenario", scenario.string(), "--out",
                    (dir.path() / "out").string()});
  }
  int migrations_of(const std::string& vm) const {
    auto timeline = nlohmann::json::parse(read_file(dir.path() / "out" / "timeline.json"));
    int count = 0;
    for (const auto& step : timeline["steps"]) count += step["step"] == "migrate" && step["vm"] == vm ? 1 : 0;
    return count;
  }
};

// Migration failures are often transient: both targets failing once each no longer leaves v1 "not placed";
// it is retried with backoff and moves live on the third attempt.
TEST(EvacuateCli, AFailedMigrationIsRetriedWithBackoffAndTheVmStillMovesLive) {
  FailingMigrations cloud;
  auto result = cloud.run(2, 600);
  ASSERT_EQ(result.exit_status, 0) << result.err;
  auto evacuation = nlohmann::json::parse(result.out)["evacuation"];
  EXPECT_EQ(evacuation["migrated"], 2) << evacuation.dump();
  EXPECT_EQ(evacuation["not_placed"], 0);
  EXPECT_EQ(evacuation["moved_cold"], 0);
  EXPECT_EQ(cloud.migrations_of("v1"), 3);
}

// A migration that keeps failing is retried while a retry could still end in time, then the VM moves cold
// soon enough to be off its host by the deadline (exit 0: nothing ran there at the deadline).
TEST(EvacuateCli, AMigrationThatKeepsFailingEndsColdBeforeTheDeadline) {
  FailingMigrations cloud;
  auto result = cloud.run(1000, 300);
  ASSERT_EQ(result.exit_status, 0) << result.err;
  auto evacuation = nlohmann::json::parse(result.out)["evacuation"];
  EXPECT_EQ(evacuation["running_at_deadline"], 0) << evacuation.dump();
  EXPECT_EQ(evacuation["not_placed"], 0);
  EXPECT_EQ(evacuation["moved_cold"], 1);
  ASSERT_EQ(evacuation["reported"].size(), 1u);
  EXPECT_EQ(evacuation["reported"][0]["vm"], "v1");
  EXPECT_THAT(
      evacuation["reported"][0]["reason"].get<std::string>(),
      ::testing::MatchesRegex("moved cold: [0-9]+ live attempts failed \\(last: .*\\); a retry from .* "
                              "would not end before the deadline at 300 s"));
  EXPECT_GT(cloud.migrations_of("v1"), 3);
}

}  // namespace
}  // namespace revive::testing
