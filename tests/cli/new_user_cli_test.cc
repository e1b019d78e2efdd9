// Small defects a new user hit (issue 11 section 2), each through the CLI: bad scenario values and host lists
// are refused with the field named, a missing file names the OS error, the plan table says only what is
// true (no "(* priority lifted...)" when nothing was, protect: false VMs mentioned, "1 VM"), `--domain`
// without
// `--precompute` is refused, output paths are printed without doubled slashes, and the README's tour runs.
#include <gtest/gtest.h>

#include <string>

#include "support/test_support.h"

namespace revive::testing {
namespace {

std::string inventory(const std::string& name) {
  return (examples_dir() / name).string();
}

TEST(NewUserCli, ScenarioValuesThatMakeNoSenseAreRefusedAllAtOnce) {
  TempDir dir;
  auto scenario = dir.write("bad.yaml",
                            "version: 1\nevents:\n"
                            "- {at: 10, slow_step: {array: array-1, factor: 0.5, until: 5}}\n"
                            "- {at: 20, fail: host-0099}\n");
  auto run = run_cli(
      {"simulate", "--inventory", inventory("tight-8/inventory.yaml"), "--scenario", scenario.string()});
  EXPECT_EQ(run.exit_status, 2);
  EXPECT_EQ(run.out, "");
  EXPECT_NE(run.err.find("bad.yaml:3: events[0].slow_step.factor: must be >= 1"), std::string::npos)
      << run.err;
  EXPECT_NE(run.err.find("bad.yaml:3: events[0].slow_step.until: must be later than the event's at (10 s)"),
            std::string::npos)
      << run.err;
  EXPECT_NE(run.err.find("bad.yaml:4: events[1].fail: unknown host \"host-0099\""), std::string::npos)
      << run.err;

  auto missing = run_cli({"simulate", "--inventory", inventory("tight-8/inventory.yaml"), "--scenario",
                          (dir.path() / "nowhere.yaml").string()});
  EXPECT_EQ(missing.exit_status, 2);
  EXPECT_NE(missing.err.find("nowhere.yaml:0: file: cannot read: No such file or directory"),
            std::string::npos)
      << missing.err;
}

TEST(NewUserCli, EmptyHostNamesAndDomainWithoutPrecomputeAreRefused) {
  auto tight8 = inventory("tight-8/inventory.yaml");
  for (const auto& list : {"host-0001,,host-0002", "host-0001,", ","}) {
    auto run = run_cli({"plan", "--inventory", tight8, "--fail", list});
    EXPECT_EQ(run.exit_status, 2) << list;
    EXPECT_NE(run.err.find("--fail: empty host name"), std::string::npos) << run.err;
  }
  auto evacuate = run_cli({"evacuate", "--inventory", tight8, "--host", "host-0002,,host-0003", "--deadline",
                           "900", "--simulate"});
  EXPECT_EQ(evacuate.exit_status, 2);
  EXPECT_NE(evacuate.err.find("--host: empty host name"), std::string::npos) << evacuate.err;
  auto domain = run_cli({"plan", "--inventory", tight8, "--fail", "host-0001", "--domain", "rack"});
  EXPECT_EQ(domain.exit_status, 2);
  EXPECT_NE(domain.err.find("--domain: only with --precompute"), std::string::npos) << domain.err;
}

TEST(NewUserCli, ThePlanTableSaysOnlyWhatIsTrue) {
  auto plain = run_cli({"plan", "--inventory", inventory("tight-8/inventory.yaml"), "--fail", "host-0001"});
  EXPECT_EQ(plain.exit_status, 3);
  EXPECT_EQ(plain.out.find("priority lifted"), std::string::npos) << plain.out;
  auto lifted =
      run_cli({"plan", "--inventory", inventory("tight-8/inventory.yaml"), "--fail", "host-0001,host-0002"});
  EXPECT_NE(lifted.out.find("medium*"), std::string::npos) << lifted.out;
  EXPECT_NE(lifted.out.find("(* priority lifted by an `after` dependency)"), std::string::npos) << lifted.out;

  auto unprotected = run_cli({"plan", "--inventory", inventory("demo-cloud.yaml"), "--fail", "host-0001"});
  EXPECT_NE(
      unprotected.out.find("1 VM of the failed hosts is protect: false and is not restarted (vm-000002)"),
      std::string::npos)
      << unprotected.out;
  EXPECT_EQ(unprotected.out.find(" 1 VMs"), std::string::npos);
}

TEST(NewUserCli, OutputPathsAreShownAsTheyAre) {
  TempDir dir;
  auto pod16 = examples_dir() / "pod-16";
  auto run = run_cli({"simulate", "--inventory", (pod16 / "inventory.yaml").string(), "--scenario",
                      (pod16 / "scenario.yaml").string(), "--format", "table", "--out",
                      (dir.path() / "out").string() + "/"});
  EXPECT_EQ(run.exit_status, 0) << run.err;
  EXPECT_NE(run.out.find("timeline: " + (dir.path() / "out" / "timeline.json").string()), std::string::npos)
      << run.out;
  EXPECT_EQ(run.out.find("//"), std::string::npos) << run.out;
}

TEST(NewUserCli, TheReadmeTourExplainsAVmOfTheFailedHost) {
  TempDir dir;
  auto generated = run_cli({"generate", "--hosts", "200", "--vms", "4000", "--seed", "7"});
  ASSERT_EQ(generated.exit_status, 0) << generated.err;
  auto cloud = dir.write("cloud.yaml", generated.out);
  auto readme = read_file(examples_dir().parent_path() / "README.md");
  auto at = readme.find("--fail host-0003 --explain ");
  ASSERT_NE(at, std::string::npos);
  auto start = at + std::string("--fail host-0003 --explain ").size();
  auto vm = readme.substr(start, readme.find(' ', start) - start);
  auto run = run_cli({"plan", "--inventory", cloud.string(), "--fail", "host-0003", "--explain", vm});
  EXPECT_EQ(run.exit_status, 0) << run.err;
  EXPECT_NE(run.out.find(vm + " goes to "), std::string::npos) << run.out;
}

}  // namespace
}  // namespace revive::testing
