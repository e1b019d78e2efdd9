// Journal resume of both engines and of the VM-level restarts: the controller is killed right after each
// journal record of a history with a drain (live migrations and a cold move in flight), guest crashes
// (restarts in place, one past max_restarts) and a host failure (fence, remaps, starts), and a new one
// resumes from the journal; the simulator's invariants (independent of the engines' bookkeeping) must hold
// for every kill point: no two copies, no limit exceeded, every drain finished, nothing lost.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "model/inventory.h"
#include "sim/scenario.h"
#include "sim/simulation.h"

namespace revive::sim {
namespace {

constexpr const char* kInventory = R"(version: 1
endpoints:
- {name: mgmt-a, max_parallel: 3}
- {name: mgmt-b, max_parallel: 3}
arrays:
- {name: arr, max_parallel: 4}
hosts:
- {name: h1, cpus: 32, memory_mib: 131072, arrays: [arr], endpoint: mgmt-a}
- {name: h2, cpus: 32, memory_mib: 131072, arrays: [arr], endpoint: mgmt-a}
- {name: h3, cpus: 32, memory_mib: 131072, arrays: [arr], endpoint: mgmt-b}
- {name: h4, cpus: 32, memory_mib: 131072, arrays: [arr], endpoint: mgmt-b}
- {name: h5, cpus: 32, memory_mib: 131072, arrays: [arr], endpoint: mgmt-b}
vms:
- {name: a, host: h1, cpus: 2, memory_mib: 4096, priority: high, disks: [{name: a-root, array: arr, size_gib: 20}]}
- {name: b, host: h1, cpus: 2, memory_mib: 4096, priority: medium}
- {name: big, host: h1, cpus: 8, memory_mib: 65536, dirty_mib_s: 5000, priority: low, disks: [{name: big-root, array: arr, size_gib: 50}]}
- {name: u, host: h1, cpus: 1, memory_mib: 2048, protect: false}
- {name: c, host: h3, cpus: 2, memory_mib: 4096, priority: medium, disks: [{name: c-root, array: arr, size_gib: 20}]}
- {name: d, host: h4, cpus: 2, memory_mib: 4096, priority: high, disks: [{name: d-root, array: arr, size_gib: 20}]}
- {name: e, host: h4, cpus: 2, memory_mib: 4096, priority: low}
)";

// The history; `restart` (a YAML event line) is inserted first when given.
std::string scenario_text(const std::string& restart) {
  return fmt::format(R"(version: 1
seed: 7
latency: {{detect: 5, fence: 8, disk_unmap: 2, disk_map: 4, net_config: 3, vm_start: 40, vm_stop: 20}}
events:
{}- {{at: 0, evacuate: h1, deadline: 120}}
- {{at: 1, vm_crash: c}}
- {{at: 2, fail: h4}}
- {{at: 50, vm_crash: c}}
- {{at: 100, vm_crash: c}}
- {{at: 150, vm_crash: c}}
)",
                     restart);
}

SimulationResult simulate(const model::Cloud& cloud, const std::string& restart) {
  auto scenario = load_scenario_text(scenario_text(restart), "scenario.yaml", cloud);
  return run_simulation(cloud, scenario, {});
}

void expect_safe(const SimulationResult& result, const std::string& what) {
  EXPECT_TRUE(result.violations.empty())
      << what << ": " << result.violations.size()
      << " violations, first: " << (result.violations.empty() ? "" : result.violations.front());
  EXPECT_EQ(result.double_runs, 0u) << what;
  EXPECT_EQ(result.lost, 0u) << what;
  for (const auto& vm : result.evacuations) {
    EXPECT_NE(vm.outcome, exec::EvacuationOutcome::pending) << what;
    EXPECT_NE(vm.outcome, exec::EvacuationOutcome::migrating) << what;
    EXPECT_NE(vm.outcome, exec::EvacuationOutcome::moving_cold) << what;
  }
}

TEST(ControllerRestart, KilledAfterEveryJournalRecordOfBothEnginesAndRestartsInPlace) {
  auto cloud = model::load_inventory_text(kInventory, "inventory.yaml");
  auto base = simulate(cloud, "");
  expect_safe(base, "without a restart");
  // The history reaches every kind of record the resume reads, with operations in flight around them.
  std::set<std::string> kinds(base.journal_kinds.begin(), base.journal_kinds.end());
  EXPECT_GE(base.journal_kinds.size(), 40u);
  for (const char* kind : {"evacuate",
                           "evacuation_plan",
                           "migrate_started",
                           "migrate_done",
                           "cold_move_started",
                           "cold_stop_done",
                           "cold_start_issued",
                           "cold_move_done",
                           "stopped",
                           "host_failed",
                           "fence_started",
                           "fence_done",
                           "plan",
                           "step_started",
                           "step_done",
                           "vm_restart_scheduled",
                           "vm_restart_started",
                           "vm_restart_done",
                           "vm_restart_relocated",
                           "vm_failed"}) {
    EXPECT_TRUE(kinds.contains(kind)) << kind;
  }
  // Killed after each record (the restart armed at 0, before the drain's first record), back 3 s or 25 s
  // later.
  std::map<std::string, int> killed_after;
  for (std::size_t record = 1; record <= base.journal_kinds.size(); ++record) {
    for (int delay : {3, 25}) {
      auto what = fmt::format("killed after record {} ({}), back {} s later", record,
                              base.journal_kinds[record - 1], delay);
      auto result = simulate(
          cloud,
          fmt::format("- {{at: 0, restart_controller: {{after_records: {}, delay: {}}}}}\n", record, delay));
      expect_safe(result, what);
      EXPECT_GT(result.evacuated, 0u) << what;
      const auto& after = result.journal_kinds;
      EXPECT_NE(std::find(after.begin(), after.end(), "resumed"), after.end()) << what << ": never resumed";
      ++killed_after[base.journal_kinds[record - 1]];
    }
  }
  EXPECT_EQ(killed_after.size(), kinds.size());
}

}  // namespace
}  // namespace revive::sim
