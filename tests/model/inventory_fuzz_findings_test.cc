// Inputs found by the fuzzers of the YAML readers (fuzz/inventory_fuzzer.cc, fuzz/config_fuzzer.cc) or while
// fuzzing them, kept as regressions.
#include <gtest/gtest.h>

#include <string>

#include "model/inventory.h"

namespace revive::model {
namespace {

std::string errors_of(const std::string& text) {
  try {
    load_inventory_text(text, "inv.yaml");
  } catch (const InventoryError& e) {
    return e.what();
  }
  return "";
}

// libyaml's scanner works in proportion to the nesting depth for every token: 80 KB of `[` took 14 s, this
// input (400 KB) about a quarter of an hour (past the test's timeout). Nesting is refused past 64 levels.
TEST(InventoryFuzzFindings, DeepNestingIsRefusedAtOnce) {
  std::string deep = "version: 1\nhosts: " + std::string(200000, '[') + std::string(200000, ']') + "\n";
  EXPECT_EQ(errors_of(deep), "inv.yaml:2: yaml: nested deeper than 64 levels\n");
  std::string block = "version: 1\nhosts:\n";
  for (int level = 0; level < 70; ++level) block += std::string(2 * level, ' ') + "-\n";
  EXPECT_EQ(errors_of(block), "inv.yaml:66: yaml: nested deeper than 64 levels\n");
}

TEST(InventoryFuzzFindings, NestingOfSixtyFourLevelsIsStillRead) {
  std::string nested = "version: 1\nhosts: " + std::string(63, '[') + std::string(63, ']') + "\n";
  EXPECT_NE(errors_of(nested).find("hosts[0]: expected a mapping, got a list"), std::string::npos);
}

}  // namespace
}  // namespace revive::model
