// DecisionStore (daemon/decision_store.h): revived's saved placement decisions: the file revive replay reads,
// numbered across restarts, the newest `keep` kept, 0 turning saving off.
#include "daemon/decision_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "model/inventory.h"
#include "plan/decision.h"
#include "plan/planner.h"
#include "support/test_support.h"

namespace revive::daemon {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kCloud =
    "version: 1\n"
    "endpoints: [{name: e, max_parallel: 2}]\n"
    "hosts:\n"
    "- {name: h1, cpus: 8, memory_mib: 8192, endpoint: e}\n"
    "- {name: h2, cpus: 8, memory_mib: 8192, endpoint: e}\n"
    "- {name: h3, cpus: 8, memory_mib: 8192, endpoint: e}\n"
    "vms:\n"
    "- {name: a, host: h1, cpus: 2, memory_mib: 2048, priority: high}\n"
    "- {name: b, host: h1, cpus: 4, memory_mib: 4096}\n"
    "- {name: c, host: h2, cpus: 2, memory_mib: 1024}\n";

// A recovery of h1 as the executor decides it, saved through `store`.
struct Recovery {
  model::Cloud cloud = model::load_inventory_text(kCloud, "cloud.yaml");
  plan::PlanRequest request;
  plan::PlannerOptions options;
  plan::Plan plan;
  Recovery() {
    request.failed_hosts = {cloud.find_host("h1")};
    plan = plan::plan_failover(cloud, request, options);
  }
  std::optional<DecisionEntry> save(DecisionStore& store, const std::string& operation = "recovery-7",
                                    std::int64_t at_unix_ms = 1'700'000'000'000) {
    return store.save({"recovery", "recovery of failed hosts: h1", 12.5, cloud, request, options, plan},
                      operation, {"h1"}, at_unix_ms);
  }
};

std::vector<std::string> files_in(const fs::path& directory) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(directory)) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(DecisionStore, SavesTheFileReviveReplayReadsWithItsOperationTimeAndHosts) {
  testing::TempDir dir;
  DecisionStore store((dir.path() / "decisions").string(), 10);
  Recovery recovery;
  auto entry = recovery.save(store);
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->number, 1u);
  EXPECT_EQ(entry->file, "decision-000001-recovery.json");
  store.flush();
  EXPECT_EQ(files_in(dir.path() / "decisions"), std::vector<std::string>{"decision-000001-recovery.json"});

  auto text = store.read(1);
  ASSERT_TRUE(text);
  EXPECT_EQ(*text, testing::read_file(dir.path() / "decisions" / entry->file));
  auto saved = json::parse(*text);
  EXPECT_EQ(saved["number"], 1);
  EXPECT_EQ(saved["operation"], "recovery-7");
  EXPECT_EQ(saved["hosts"], json::array({"h1"}));
  EXPECT_EQ(saved["at"], "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(saved["trigger"], "recovery of failed hosts: h1");
  // Everything plan::decision_json writes, unchanged: revive replay plans it again to the same plan.
  plan::Decision decision{
      "recovery",   "recovery of failed hosts: h1", 12.5, recovery.cloud, recovery.request, recovery.options,
      recovery.plan};
  auto inputs = json::parse(plan::decision_json(decision).dump());
  for (const auto& [key, value] : inputs.items()) EXPECT_EQ(saved[key], value) << key;
  auto replayed = plan::replay_decision(saved, "decision-000001-recovery.json");
  EXPECT_TRUE(replayed.same()) << replayed.saved_plan << "\n" << replayed.replayed_plan;
  EXPECT_FALSE(json::parse(replayed.replayed_plan)["placements"].empty());

  EXPECT_EQ(DecisionStore::to_json(store.list().at(0)), (json{{"number", 1},
                                                              {"kind", "recovery"},
                                                              {"at", "2023-11-14T22:13:20.000Z"},
                                                              {"operation", "recovery-7"},
                                                              {"hosts", {"h1"}}}));
  EXPECT_FALSE(store.read(2));
  EXPECT_EQ(store.failure(), "");
}

TEST(DecisionStore, KeepsTheNewestAndNumbersOnAcrossRestarts) {
  testing::TempDir dir;
  auto directory = (dir.path() / "decisions").string();
  Recovery recovery;
  {
    DecisionStore store(directory, 3);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(recovery.save(store, "recovery-" + std::to_string(i)));
    store.flush();
    EXPECT_EQ(files_in(directory),
              (std::vector<std::string>{"decision-000003-recovery.json", "decision-000004-recovery.json",
                                        "decision-000005-recovery.json"}));
    EXPECT_FALSE(store.read(2));
    EXPECT_TRUE(store.read(3));
  }
  // A write a crash cut short is removed; the listing comes back from the files, numbers go on after 5.
  std::ofstream(fs::path(directory) / "decision-000006-recovery.json.tmp") << "{\"version\": 1, \"inv";
  {
    DecisionStore store(directory, 3);
    auto listed = store.list();
    ASSERT_EQ(listed.size(), 3u);
    EXPECT_EQ(listed[0].number, 3u);
    EXPECT_EQ(listed[2].operation, "recovery-4");
    EXPECT_EQ(listed[2].hosts, std::vector<std::string>{"h1"});
    EXPECT_EQ(listed[2].at_unix_ms, 1'700'000'000'000);
    EXPECT_EQ(listed[2].kind, "recovery");
    auto next = recovery.save(store);
    ASSERT_TRUE(next);
    EXPECT_EQ(next->number, 6u);
    store.flush();
    EXPECT_EQ(files_in(directory),
              (std::vector<std::string>{"decision-000004-recovery.json", "decision-000005-recovery.json",
                                        "decision-000006-recovery.json"}));
  }
  // A smaller keep at the next start removes the oldest at once; other files are left alone.
  std::ofstream(fs::path(directory) / "notes.txt") << "mine";
  DecisionStore store(directory, 1);
  EXPECT_EQ(files_in(directory), (std::vector<std::string>{"decision-000006-recovery.json", "notes.txt"}));
  EXPECT_EQ(store.list().size(), 1u);
}

TEST(DecisionStore, KeepZeroSavesNothingAndRemovesNothing) {
  testing::TempDir dir;
  auto directory = (dir.path() / "decisions").string();
  Recovery recovery;
  {
    DecisionStore store(directory, 5);
    ASSERT_TRUE(recovery.save(store));
  }  // written before the store is gone
  DecisionStore off(directory, 0);
  EXPECT_FALSE(recovery.save(off));
  EXPECT_EQ(files_in(directory), std::vector<std::string>{"decision-000001-recovery.json"});
  EXPECT_EQ(off.list().size(), 1u);
  EXPECT_TRUE(off.read(1));
}

TEST(DecisionStore, AFileThatCannotBeWrittenIsAFailureNotAnExceptionAndIsNotListed) {
  testing::TempDir dir;
  auto directory = dir.path() / "decisions";
  DecisionStore store(directory.string(), 5);
  Recovery recovery;
  fs::remove_all(directory);
  std::ofstream(directory) << "a file where the directory was";
  EXPECT_TRUE(recovery.save(store));  // queued
  store.flush();
  EXPECT_NE(store.failure().find("cannot write"), std::string::npos) << store.failure();
  EXPECT_TRUE(store.list().empty());
  EXPECT_FALSE(store.read(1));
  EXPECT_NE(store.take_failure(), "");
  EXPECT_EQ(store.failure(), "");
}

}  // namespace
}  // namespace revive::daemon
