// revive generate, run as a user would.
#include <gtest/gtest.h>

#include "support/test_support.h"

namespace revive::testing {
namespace {

TEST(GenerateCommand, LargeCloudIsDeterministicAndValidates) {
  const std::vector<std::string> arguments = {"generate", "--hosts", "5000", "--vms",
                                              "100000",   "--seed",  "1"};
  const CommandResult first = run_cli(arguments);
  ASSERT_EQ(first.exit_status, 0) << first.err;
  const CommandResult second = run_cli(arguments);
  ASSERT_EQ(second.exit_status, 0) << second.err;
  EXPECT_TRUE(first.out == second.out) << "two runs with the same seed differ";

  TempDir dir;
  const auto path = dir.write("cloud.yaml", first.out);
  const CommandResult validated = run_cli({"inventory", "validate", path.string()});
  EXPECT_EQ(validated.exit_status, 0) << validated.err;
  EXPECT_NE(validated.out.find("5000 hosts, 100000 VMs"), std::string::npos) << validated.out;
}

TEST(GenerateCommand, SeedChangesTheCloud) {
  const CommandResult first = run_cli({"generate", "--hosts", "16", "--vms", "400", "--seed", "1"});
  const CommandResult second = run_cli({"generate", "--hosts", "16", "--vms", "400", "--seed", "2"});
  ASSERT_EQ(first.exit_status, 0) << first.err;
  ASSERT_EQ(second.exit_status, 0) << second.err;
  EXPECT_NE(first.out, second.out);
}

TEST(GenerateCommand, DemoCloudIsWhatTheGeneratorWrites) {
  const CommandResult result = run_cli(
      {"generate", "--hosts", "64", "--vms", "1600", "--racks", "8", "--arrays", "4", "--seed", "2026"});
  ASSERT_EQ(result.exit_status, 0) << result.err;
  EXPECT_TRUE(result.out == read_file(source_dir() / "examples" / "demo-cloud.yaml"))
      << "examples/demo-cloud.yaml is stale: regenerate it with the command in this test";
}

struct BadArguments {
  std::vector<std::string> arguments;
  std::string message;  // expected on stderr
};

TEST(GenerateCommand, RefusesBadArgumentsNamingTheOption) {
  const std::vector<BadArguments> cases = {
      {{"--hosts", "0", "--vms", "10"}, "--hosts: must be at least 1"},
      {{"--hosts", "10", "--vms", "100000"}, "--vms: 100000 VMs do not fit on 10 hosts"},
      {{"--hosts", "10", "--vms", "20000"}, "--vms: 20000 VMs do not fit on 10 hosts"},
      {{"--hosts", "4", "--vms", "10", "--racks", "5"}, "--racks: 5 racks for 4 hosts"},
      {{"--hosts", "4", "--vms", "10", "--racks", "0"}, "--racks: must be at least 1"},
      {{"--hosts", "4", "--vms", "10", "--arrays", "0"}, "--arrays: must be at least 1"},
      {{"--hosts", "4", "--vms", "10", "--reserved-hosts", "4"}, "--reserved-hosts: 4 spares leave none"},
      {{"--hosts", "4", "--vms", "10", "--memory-load", "0.99"}, "--memory-load: 0.99 is outside"},
      {{"--hosts", "4", "--vms", "10", "--dirty-rate-scale", "20"}, "--dirty-rate-scale: 20 is outside"},
      {{"--hosts", "-3", "--vms", "10"}, "--hosts"},
      {{"--hosts", "ten", "--vms", "10"}, "--hosts"},
      {{"--vms", "10"}, "--hosts is required"},
      {{"--hosts", "4"}, "--vms is required"},
  };
  for (const BadArguments& bad : cases) {
    std::vector<std::string> arguments = {"generate"};
    arguments.insert(arguments.end(), bad.arguments.begin(), bad.arguments.end());
    const CommandResult result = run_cli(arguments);
    EXPECT_EQ(result.exit_status, 2) << bad.message;
    EXPECT_NE(result.err.find(bad.message), std::string::npos)
        << "expected: " << bad.message << "\ngot: " << result.err;
    EXPECT_TRUE(result.out.empty()) << bad.message;
  }
}

}  // namespace
}  // namespace revive::testing
