// The `revive` entry point: an unknown command is named as such (exit 2).
#include <gtest/gtest.h>

#include "support/test_support.h"

namespace revive::testing {
namespace {

TEST(MainCli, AnUnknownCommandIsNamed) {
  auto result = run_cli({"frobnicate"});
  EXPECT_EQ(result.exit_status, 2);
  EXPECT_NE(result.err.find("revive: unknown command 'frobnicate'"), std::string::npos) << result.err;
  EXPECT_EQ(run_cli({"inventory", "--help"}).exit_status, 0);
}

}  // namespace
}  // namespace revive::testing
