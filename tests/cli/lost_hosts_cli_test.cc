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

std::string pod16_inventory() {
  return (examples_dir() / "pod-16" / "inventory.yaml").string();
}

nlohmann::json host_entry(const nlohmann::json& summary, const std::string& host) {
  for (const auto& entry : summary["hosts"]) {
    if (entry["host"] == host) return entry;
  }
  return nullptr;
}

struct Run {
  CommandResult command;
  nlohmann::json summary;
  nlohmann::json steps;
};

// pod-16 with host-0006 crashed at 0 and `events` added; `detect` empty runs the real detector.
Run simulate_pod16(const TempDir& dir, const std::string& detect, const std::string& events) {
  static int runs = 0;
  auto name = "run" + std::to_string(runs++);
  auto scenario =
      dir.write(name + ".yaml", "version: 1\nseed: 7\n" +
                                    (detect.empty() ? "" : "latency: {detect: " + detect + "}\n") +
                                    "events:\n- {at: 0, fail: [host-0006]}\n" + events);
  Run run;
  run.command = run_cli({"simulate", "--inventory", pod16_inventory(), "--scenario", scenario.string(),
                         "--out", (dir.path() / name).string()});
  if (!run.command.out.empty()) run.summary = nlohmann::json::parse(run.command.out);
  run.steps = nlohmann::json::parse(read_file(dir.path() / name / "timeline.json"))["steps"];
  return run;
}

bool fenced(const Run& run, const std::string& host) {
  for (const auto& step : run.steps) {
    if (step["step"] == "fence" && step["host"] == host) return true;
  }
  return false;
}

std::size_t starts(const Run& run) {
  std::size_t count = 0;
  for (const auto& step : run.steps) count += step["step"] == "vm_start" && step["ok"] == true ? 1 : 0;
  return count;
}

// One semantics in both modes: an isolated host whose lease lives is left alone (never fenced, its VMs not
// restarted); cut its storage lease too and it is declared failed, fenced and its VMs recovered.
TEST(LostHostsCli, AnIsolatedHostIsLeftAloneUnlessItsLeaseIsCutTooWithAFixedOrTheRealDetector) {
  TempDir dir;
  for (std::string detect : {"5", ""}) {
    SCOPED_TRACE(detect.empty() ? "real detector" : "detect: " + detect);
    auto crash_only = simulate_pod16(dir, detect, "");
    ASSERT_EQ(crash_only.command.exit_status, 0) << crash_only.command.err;

    auto isolated = simulate_pod16(dir, detect, "- {at: 0, isolate: [host-0003]}\n");
    ASSERT_EQ(isolated.command.exit_status, 0) << isolated.command.err;
    EXPECT_FALSE(fenced(isolated, "host-0003"));
    EXPECT_TRUE(fenced(isolated, "host-0006"));
    EXPECT_EQ(starts(isolated), starts(crash_only)) << "no VM of the isolated host restarted";
    EXPECT_EQ(isolated.summary["restarted"], crash_only.summary["restarted"]);
    auto entry = host_entry(isolated.summary, "host-0003");
    EXPECT_EQ(entry["outcome"], "isolated_left_alone") << entry.dump();
    EXPECT_EQ(entry["lost"], "isolate");
    EXPECT_EQ(entry["channels_cut"], nlohmann::json({"agent", "hypervisor"}));
    EXPECT_TRUE(entry["declared_at_s"].is_null());
    EXPECT_NE(entry["reason"].get<std::string>().find("lease stayed alive"), std::string::npos);

    auto lease_lost = simulate_pod16(
        dir, detect, "- {at: 0, isolate: [host-0003], channels: [agent, hypervisor, storage]}\n");
    ASSERT_EQ(lease_lost.command.exit_status, 0) << lease_lost.command.err;
    EXPECT_TRUE(fenced(lease_lost, "host-0003"));
    EXPECT_GT(lease_lost.summary["restarted"].get<int>(), crash_only.summary["restarted"].get<int>());
    EXPECT_EQ(host_entry(lease_lost.summary, "host-0003")["outcome"], "fenced");
    EXPECT_EQ(lease_lost.summary["double_runs"], 0);

    // `isolate` then `fail` of the same host: the crash counts (declared after it, fenced, recovered).
    auto isolated_then_crashed =
        simulate_pod16(dir, detect, "- {at: 0, isolate: [host-0003]}\n- {at: 40, fail: [host-0003]}\n");
    ASSERT_EQ(isolated_then_crashed.command.exit_status, 0) << isolated_then_crashed.command.err;
    auto crashed = host_entry(isolated_then_crashed.summary, "host-0003");
    EXPECT_EQ(crashed["outcome"], "fenced") << crashed.dump();
    EXPECT_EQ(crashed["lost"], "crash");
    EXPECT_EQ(crashed["lost_at_s"], 0.0);
    EXPECT_GE(crashed["declared_at_s"].get<double>(), 40.0);
    EXPECT_EQ(isolated_then_crashed.summary["restarted"], lease_lost.summary["restarted"]);
  }
}

TEST(LostHostsCli, TheTableSaysWhatBecameOfEachLostHost) {
  TempDir dir;
  auto scenario = dir.write("isolate.yaml",
                            "version: 1\nseed: 7\nlatency: {detect: 5}\nevents:\n"
                            "- {at: 0, fail: [host-0006]}\n- {at: 10, isolate: [host-0003]}\n");
  auto table = run_cli(
      {"simulate", "--inventory", pod16_inventory(), "--scenario", scenario.string(), "--format", "table"});
  ASSERT_EQ(table.exit_status, 0) << table.err;
  EXPECT_NE(table.out.find("  host-0006 (crash at 0.0 s): declared failed at 5.0 s, fenced at "),
            std::string::npos)
      << table.out;
  EXPECT_NE(table.out.find("  host-0003 (isolate at 10.0 s): isolated, left alone: its storage lease stayed"),
            std::string::npos)
      << table.out;
}

TEST(LostHostsCli, ChannelsAreCheckedWhenTheScenarioIsLoaded) {
  TempDir dir;
  auto scenario = dir.write("bad.yaml",
                            "version: 1\nevents:\n- {at: 0, isolate: [host-0003], channels: [agent, power]}\n"
                            "- {at: 0, fail: [host-0004], channels: [storage]}\n"
                            "- {at: 0, isolate: [host-0005], channels: [storage, storage]}\n"
                            "- {at: 0, isolate: [host-0007], channels: []}\n");
  auto result = run_cli({"simulate", "--inventory", pod16_inventory(), "--scenario", scenario.string()});
  EXPECT_EQ(result.exit_status, 2);
  for (const char* message :
       {"bad.yaml:3: events[0].channels[1]: must be agent, hypervisor or storage, not \"power\"",
        "bad.yaml:4: events[1].channels: only allowed with isolate",
        "bad.yaml:5: events[2].channels[1]: channel \"storage\" listed twice",
        "bad.yaml:6: events[3].channels: must be a non-empty list"}) {
    EXPECT_NE(result.err.find(message), std::string::npos) << message << "\n" << result.err;
  }
}

// Fence only where a recovery needs the proof: host-0004 runs only an unprotected VM (a fence would kill it
// for nothing) and host-0006 is down in the inventory already; host-0001's protected VMs need their fence.
TEST(LostHostsCli, AHostWithNothingToRecoverOrAlreadyDownIsNotFenced) {
  TempDir dir;
  auto inventory = read_file(source_dir() / "tests" / "data" / "safety" / "inventory.yaml");
  auto replace = [&inventory](const std::string& from, const std::string& to) {
    auto at = inventory.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    inventory.replace(at, from.size(), to);
  };
  replace("switch: sw-2}\nvms:", "switch: sw-2, state: down}\nvms:");  // host-0006, the last host
  replace("vms:\n",
          "vms:\n- {name: vm-u1, host: host-0004, cpus: 2, memory_mib: 8192, networks: [prod], protect: "
          "false}\n");
  auto inventory_path = dir.write("inventory.yaml", inventory);
  auto scenario = dir.write("scenario.yaml",
                            "version: 1\nseed: 7\nlatency: {detect: 5}\nevents:\n"
                            "- {at: 0, fail: [host-0001, host-0004, host-0006]}\n");
  auto result = run_cli({"simulate", "--inventory", inventory_path.string(), "--scenario", scenario.string(),
                         "--out", (dir.path() / "run").string()});
  ASSERT_EQ(result.exit_status, 0) << result.err;
  auto steps = nlohmann::json::parse(read_file(dir.path() / "run" / "timeline.json"))["steps"];
  std::vector<std::string> fenced;
  for (const auto& step : steps) {
    if (step["step"] == "fence") fenced.push_back(step["host"]);
  }
  EXPECT_EQ(fenced, std::vector<std::string>({"host-0001"}));
  auto summary = nlohmann::json::parse(result.out);
  EXPECT_EQ(host_entry(summary, "host-0001")["outcome"], "fenced");
  auto unprotected = host_entry(summary, "host-0004");
  EXPECT_EQ(unprotected["outcome"], "declared_failed_not_fenced") << unprotected.dump();
  EXPECT_NE(unprotected["reason"].get<std::string>().find("no protected VM to recover"), std::string::npos);
  auto down = host_entry(summary, "host-0006");
  EXPECT_EQ(down["outcome"], "declared_failed_not_fenced") << down.dump();
  EXPECT_NE(down["reason"].get<std::string>().find("already down in the inventory"), std::string::npos);
  EXPECT_EQ(summary["restarted"], 4);
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
