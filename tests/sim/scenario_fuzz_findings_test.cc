// Inputs the scenario parser's fuzzer (fuzz/scenario_fuzzer.cc) found to break it, kept as regressions: each
// must be refused with a ScenarioError naming the line, never another exception or a crash.
#include <gtest/gtest.h>

#include <string>

#include "model/inventory.h"
#include "sim/scenario.h"

namespace revive::sim {
namespace {

const model::Cloud& small_cloud() {
  static const model::Cloud cloud = model::load_inventory_text(R"(version: 1
endpoints: [{name: mgmt, max_parallel: 2}]
hosts: [{name: h1, cpus: 4, memory_mib: 4096, endpoint: mgmt}]
)",
                                                               "cloud.yaml");
  return cloud;
}

std::string errors_of(const std::string& text) {
  try {
    load_scenario_text(text, "scn.yaml", small_cloud());
  } catch (const ScenarioError& e) {
    return e.what();
  }
  return "";
}

// A key that is not a scalar (here a tagged flow mapping used as a key) threw YAML::BadConversion out of the
// parser (fuzz/regressions/scenario/non-scalar-key.yaml).
TEST(ScenarioFuzzFindings, AKeyThatIsNotAScalarIsAnError) {
  EXPECT_NE(errors_of("version: 1\nevents:\n- {at: 0,!slow_step: {host: h1, factor: 2}}\n")
                .find("scn.yaml:3: events[0]: a key must be a plain name"),
            std::string::npos);
  EXPECT_EQ(errors_of("version: 1\n? [a, b]\n: 1\n"), "scn.yaml:2: (document): a key must be a plain name");
}

}  // namespace
}  // namespace revive::sim
