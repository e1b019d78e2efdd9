// `revive status|disarm|arm|host confirm-down --state PATH`: a missing store is bad input, never made by a
// reader (a mistyped path must not report a fresh store's "armed"); `--create` makes one on purpose.
#include <gtest/gtest.h>

#include <filesystem>

#include "support/test_support.h"

namespace revive::testing {
namespace {

TEST(HostCli, AMissingStoreIsBadInputForEveryCommandAndNothingIsCreated) {
  TempDir dir;
  auto state = dir.path() / "no-such-dir" / "state.db";
  const std::vector<std::vector<std::string>> commands = {
      {"status", "--state", state.string()},
      {"status", "--state", state.string(), "--format", "json"},
      {"disarm", "--state", state.string()},
      {"arm", "--state", state.string()},
      {"host", "confirm-down", "host-0003", "--state", state.string()},
  };
  for (const auto& command : commands) {
    auto result = run_cli(command);
    EXPECT_EQ(result.exit_status, 2) << command[0] << ": " << result.out << result.err;
    EXPECT_EQ(result.out, "") << command[0];
    EXPECT_NE(result.err.find("--state: no state store at " + state.string() + " (revived creates it"),
              std::string::npos)
        << result.err;
  }
  EXPECT_NE(run_cli({"disarm", "--state", state.string()}).err.find("; or pass --create)"),
            std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(state.parent_path())) << "nothing may be created";
}

TEST(HostCli, CreateMakesTheStoreOnPurposeAndReadersThenSeeIt) {
  TempDir dir;
  auto state = (dir.path() / "new" / "state.db").string();
  auto disarm = run_cli({"disarm", "--state", state, "--create", "--by", "alice", "--reason", "upgrade"});
  ASSERT_EQ(disarm.exit_status, 0) << disarm.err;
  auto status = run_cli({"status", "--state", state});
  ASSERT_EQ(status.exit_status, 0) << status.err;
  EXPECT_TRUE(status.out.starts_with("fencing: DISARMED (by alice")) << status.out;
  auto arm = run_cli({"arm", "--state", state});  // exists now: no --create needed
  ASSERT_EQ(arm.exit_status, 0) << arm.err;
  auto other = (dir.path() / "other.db").string();
  auto confirm = run_cli({"host", "confirm-down", "host-0003", "--state", other, "--create"});
  ASSERT_EQ(confirm.exit_status, 0) << confirm.err;
  EXPECT_TRUE(std::filesystem::exists(other));
  auto create_on_status = run_cli({"status", "--state", state, "--create"});
  EXPECT_EQ(create_on_status.exit_status, 2) << "status only reads: it has no --create";
}

}  // namespace
}  // namespace revive::testing
