// libFuzzer target: the scenario parser (sim::load_scenario_text) against a small fixed cloud, so that names
// (hosts, VMs, disks, arrays, endpoints, switches) resolve. Any input must load or throw ScenarioError.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "model/inventory.h"
#include "sim/scenario.h"

namespace {

constexpr std::string_view kCloud = R"(version: 1
endpoints:
- {name: mgmt, max_parallel: 2}
arrays:
- {name: arr, max_parallel: 2}
switches:
- {name: sw, max_parallel: 2}
hosts:
- {name: h1, cpus: 16, memory_mib: 65536, arrays: [arr], endpoint: mgmt, switch: sw}
- {name: h2, cpus: 16, memory_mib: 65536, arrays: [arr], endpoint: mgmt}
vms:
- {name: a, host: h1, cpus: 2, memory_mib: 4096, disks: [{name: a-root, array: arr, size_gib: 10}]}
- {name: b, host: h2, cpus: 2, memory_mib: 4096}
)";

const revive::model::Cloud& cloud() {
  static const revive::model::Cloud loaded = revive::model::load_inventory_text(kCloud, "cloud.yaml");
  return loaded;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    auto scenario = revive::sim::load_scenario_text(text, "fuzz.yaml", cloud());
    (void)scenario;
  } catch (const revive::sim::ScenarioError&) {
  }
  return 0;
}
