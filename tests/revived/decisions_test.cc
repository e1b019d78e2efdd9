// revived saves every placement decision with its inputs (issue 13, "Replay"): after a real crash and
// recovery, the recovery's decision is listed by the API and the CLI, fetched, and `revive replay` plans it
// again offline to the same placements the daemon carried out; a drain's decision is listed with its
// operation. One lab bring-up; every answer validated against docs/api/openapi.yaml.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "revived/live_revived.h"
#include "support/test_support.h"

namespace revive {
namespace {

using nlohmann::json;
using testing::LiveRevived;

TEST(RevivedEndToEnd, TheRecoveryDecisionIsSavedListedFetchedAndReplaysToThePlacementsMade) {
  LiveRevived cloud(3);
  ASSERT_TRUE(lab::eventually([&] { return cloud.host_state("td0") == "up"; }, 20.0)) << cloud.events();
  EXPECT_TRUE(cloud.get("/v1/decisions")["decisions"].empty());  // nothing decided yet

  cloud.lab().crash("td0");
  ASSERT_TRUE(lab::eventually([&] { return cloud.operation_finished("recovery"); }, 60.0)) << cloud.events();
  auto op = cloud.operation_of_kind("recovery");
  ASSERT_EQ(op["state"], "succeeded") << op.dump(2);

  // Listed: the recovery's decision, for td0, with its operation.
  auto list = cloud.get("/v1/decisions");
  EXPECT_EQ(list["keep"], 500);
  json listed;
  for (const auto& decision : list["decisions"]) {
    if (decision["kind"] == "recovery" && decision["operation"] == op["id"]) listed = decision;
  }
  ASSERT_FALSE(listed.is_null()) << list.dump(2);
  EXPECT_EQ(listed["hosts"], json::array({"td0"}));
  auto number = listed["number"].get<std::uint64_t>();

  // Fetched: the file as saved in the data directory, byte for byte.
  auto [status, text] = cloud.get_text("/v1/decisions/" + std::to_string(number));
  ASSERT_EQ(status, 200) << text;
  auto saved_path =
      cloud.lab().files().data_dir / "decisions" / fmt::format("decision-{:06}-recovery.json", number);
  EXPECT_EQ(text, testing::read_file(saved_path));
  auto decision = json::parse(text);
  EXPECT_EQ(decision["request"]["failed_hosts"], json::array({"td0"}));

  // The placements it decided are where the lab runs td0's VMs now.
  auto where = cloud.placement();
  ASSERT_EQ(decision["plan"]["placements"].size(), 3u) << decision["plan"].dump(2);
  for (const auto& placement : decision["plan"]["placements"]) {
    auto vm = placement["vm"].get<std::string>();
    EXPECT_EQ(placement["from"], "td0");
    EXPECT_EQ(where[vm], std::vector<std::string>{placement["to"].get<std::string>()}) << vm;
  }

  // Replayed offline: the same plan, exit 0.
  auto file = cloud.dir() / "fetched-decision.json";
  std::ofstream(file) << text;
  auto replayed = testing::run_cli({"replay", file.string()}, 60);
  EXPECT_EQ(replayed.exit_status, 0) << replayed.err;
  EXPECT_EQ(replayed.out, decision["plan"].dump() + "\n");

  // The CLI lists it and shows the same file.
  auto shown = cloud.cli({"decisions"});
  EXPECT_EQ(shown.exit_status, 0) << shown.err;
  EXPECT_NE(shown.out.find(op["id"].get<std::string>()), std::string::npos) << shown.out;
  auto one = cloud.cli({"decisions", "show", std::to_string(number)});
  EXPECT_EQ(one.exit_status, 0) << one.err;
  EXPECT_EQ(one.out, text);

  // A drain's decision is made when it is asked for: listed at once, with the drain's operation.
  auto drain = cloud.post("/v1/hosts/td1/evacuate", json{{"deadline_s", 300}});
  ASSERT_EQ(drain.status, 202) << drain.body.dump();
  auto drained = cloud.get("/v1/decisions")["decisions"].back();
  EXPECT_EQ(drained["kind"], "evacuation") << drained.dump();
  EXPECT_EQ(drained["operation"], drain.body["operation"]["id"]) << drained.dump();
  EXPECT_EQ(drained["hosts"], json::array({"td1"}));
  EXPECT_GT(drained["number"].get<std::uint64_t>(), number);
  auto drain_file = cloud.dir() / "drain-decision.json";
  std::ofstream(drain_file) << cloud.get_text("/v1/decisions/" + drained["number"].dump()).second;
  auto drain_replayed = testing::run_cli({"replay", drain_file.string()}, 60);
  EXPECT_EQ(drain_replayed.exit_status, 0) << drain_replayed.err;

  EXPECT_EQ(cloud.raw_get("/v1/decisions/" + std::to_string(number + 100)).status, 404);
  cloud.validate();
}

}  // namespace
}  // namespace revive
