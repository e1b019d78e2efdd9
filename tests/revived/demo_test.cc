// `revive demo` end to end (apps/revive/demo_command.cc): a real lab, revived as its child, a host crash
// recovered and a QEMU host drained by live migration; exit 0 with the key lines, nothing left behind. And a
// failing demo (revived cannot start) exits 1 with a clear message and leaves nothing behind either.
#include <unistd.h>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "lab/real_processes.h"
#include "support/test_support.h"

namespace revive {
namespace {

bool lab_can_run(std::string* why) {
  if (::geteuid() != 0) {
    *why = "the lab needs root (network namespaces, session daemons)";
    return false;
  }
  for (const char* tool : {"libvirtd", "ipmi_sim", "ipmitool", "ip", "setpriv", "qemu-system-x86_64"}) {
    if (!lab::have_tool(tool)) {
      *why = std::string(tool) + " not installed (scripts/install-deps.sh)";
      return false;
    }
  }
  return true;
}

// The lab directory the demo announced ("bringing up a lab in DIR (...").
std::filesystem::path lab_directory(const std::string& out) {
  const std::string announced = "bringing up a lab in ";
  auto start = out.find(announced);
  if (start == std::string::npos) return {};
  start += announced.size();
  return out.substr(start, out.find(' ', start) - start);
}

TEST(DemoTest, RecoversACrashedHostAndDrainsAQemuHostThenLeavesNothing) {
  std::string why;
  if (!lab_can_run(&why)) GTEST_SKIP() << why;
  auto result = testing::run_cli({"demo", "--revived", REVIVED, "--agent", REVIVE_AGENT}, 180);
  const auto& out = result.out;
  ASSERT_EQ(result.exit_status, 0) << out << result.err;
  for (const char* line :
       {"revived's prestaged plan for a failure of td0", "host_declared_failed", "td0 fenced (ipmi)",
        "runs again on", "where td0's VMs went (operation", ": succeeded)",
        "VMs where the prestaged plan said", "qemu0-g0  qemu0 -> qemu1  live_migration in",
        "each runs exactly once, where revived says", "qemu0 left maintenance",
        "recovery and maintenance succeeded", "no process left"}) {
    EXPECT_NE(out.find(line), std::string::npos) << "missing: " << line << "\n" << out;
  }
  EXPECT_NE(out.find("  detection "), std::string::npos) << out;
  auto directory = lab_directory(out);
  ASSERT_FALSE(directory.empty()) << out;
  EXPECT_FALSE(std::filesystem::exists(directory)) << directory;
}

TEST(DemoTest, ARevivedThatCannotStartFailsTheDemoAndLeavesNothing) {
  std::string why;
  if (!lab_can_run(&why)) GTEST_SKIP() << why;
  auto result = testing::run_cli({"demo", "--revived", "/bin/false", "--agent", REVIVE_AGENT}, 120);
  EXPECT_EQ(result.exit_status, 1) << result.out << result.err;
  EXPECT_NE(result.err.find("revive demo: FAILED: revived exited at start-up"), std::string::npos)
      << result.err;
  EXPECT_NE(result.out.find("no process left"), std::string::npos) << result.out;
  auto directory = lab_directory(result.out);
  ASSERT_FALSE(directory.empty()) << result.out;
  EXPECT_FALSE(std::filesystem::exists(directory)) << directory;
}

}  // namespace
}  // namespace revive
